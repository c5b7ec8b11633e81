/**
 * Direct cache uploads of one project that were reserved and never committed or aborted: once
 * older than the longest a direct upload may take (CACHE_UPLOAD_TTL) and a day, the storage
 * upload is aborted and the reservation deleted. The archives of the others are still being
 * uploaded: they go to `referenced`, so the orphan sweep leaves them alone. The Actions cache
 * service's uploads (src/protocols/actions/uploads.ts) have no storage upload to abort: their
 * staged pieces are objects, which the orphan sweep removes once a day old.
 */
import * as layout from '../caches/layout';
import type { Reservation } from '../caches/store';
import { readEntry } from '../write-once';
import { objectsBelow, ORPHAN_GRACE_MS, type GcPass } from './pass';

export async function abortAbandonedUploads(pass: GcPass, project: string, referenced: Set<string>): Promise<void> {
  const { storage, config } = pass;
  for await (const o of objectsBelow(pass, 'cache', layout.reservationsPrefix(project))) {
    if (layout.parseCacheKey(o.key)?.kind !== 'reservation') continue;
    const r = await readEntry<Pick<Reservation, 'object' | 'createdAt'> & Partial<Pick<Reservation, 'storageUploadId'>>>(storage, 'cache', o.key);
    if (!r) continue;
    if (pass.now - Date.parse(r.createdAt) > config.caches.uploadTtlSeconds * 1000 + ORPHAN_GRACE_MS) {
      const object = layout.objectKeyIn(project, r.object);
      if (object && r.storageUploadId) await storage.abortMultipartUpload('cache', object, r.storageUploadId).catch(() => undefined);
      await storage.delete('cache', o.key);
      pass.report.uploadsAborted++;
    } else {
      referenced.add(r.object);
    }
  }
}
