/**
 * What writes cut off by a crash left where no listing shows it (fs temp files, S3 staging
 * objects and incomplete multipart uploads): removed by the driver once older than the longest a
 * direct upload may take (CACHE_UPLOAD_TTL) and a day, so no write in flight is touched.
 */
import { ORPHAN_GRACE_MS, type GcPass } from './pass';

export async function removeAbandonedWrites(pass: GcPass): Promise<void> {
  const startedBefore = new Date(pass.now - pass.config.caches.uploadTtlSeconds * 1000 - ORPHAN_GRACE_MS);
  const abandoned = await pass.storage.removeAbandonedWrites(startedBefore);
  pass.report.abandonedWritesRemoved += abandoned.count;
  pass.report.bytesFreed += abandoned.bytes;
}
