/**
 * Builds the configured driver, wrapped in instrumentation. The one place that knows both
 * drivers exist.
 */
import { deriveKey } from '../auth/keys';
import type { Config } from '../config';
import type { Logger } from '../http/logger';
import type { Metrics } from '../http/metrics';
import type { BlobStore } from './fs/blob-url';
import { FsStorage } from './fs/driver';
import { instrumentStorage } from './instrumented';
import { toStorageKey } from './keys';
import { createS3Client, ensureBuckets } from './s3/client';
import { S3Storage } from './s3/driver';
import type { Storage } from './storage';

export interface StorageBundle {
  storage: Storage;
  /** The fs driver, for the route that serves its signed blob URLs; absent on s3 (S3 serves its own). */
  blobs?: BlobStore;
  /** The origin presigned URLs point at (for CSPs that must allow redirected images). */
  storageOrigin: string;
}

/** Path under PUBLIC_URL where the fs driver's signed blob URLs are served. */
export const BLOB_PATH = '/_blob';

export async function createStorage(config: Config, metrics: Metrics, rootSecret: Buffer, logger?: Logger): Promise<StorageBundle> {
  const sc = config.storage;
  if (sc.driver === 'fs') {
    const fs = new FsStorage({
      root: sc.dataDir,
      blobBaseUrl: `${config.publicUrl.origin}${BLOB_PATH}`,
      signingSecret: deriveKey(rootSecret, 'blob-url'),
    });
    return { storage: instrumentStorage(fs, metrics), blobs: fs, storageOrigin: config.publicUrl.origin };
  }
  const timeouts = { responseTimeoutMs: sc.responseTimeoutMs };
  const clientOptions = {
    ...timeouts,
    region: sc.region,
    forcePathStyle: sc.forcePathStyle,
    accessKeyId: sc.accessKeyId,
    secretAccessKey: sc.secretAccessKey,
    sessionToken: sc.sessionToken,
    // the SDK warns through console by default; its warnings belong in our log, its chatter nowhere
    logger: logger && {
      debug: () => undefined,
      info: () => undefined,
      warn: (...content: unknown[]) => logger.warn({ sdk: content }, 'aws sdk warning'),
      error: (...content: unknown[]) => logger.error({ sdk: content }, 'aws sdk error'),
    },
  };
  const client = createS3Client({ ...clientOptions, endpoint: sc.endpoint });
  // presigned URLs are for browsers and CI jobs, which may reach S3 by another URL than we do
  const presignClient = sc.publicEndpoint ? createS3Client({ ...clientOptions, endpoint: sc.publicEndpoint }) : undefined;
  if (sc.createBuckets) await ensureBuckets(client, [sc.artifactsBucket, sc.cacheBucket]);
  const s3 = new S3Storage({ client, presignClient, timeouts, buckets: { artifacts: sc.artifactsBucket, cache: sc.cacheBucket } });
  // the origin as the SDK builds it (path-style endpoint, or the bucket's virtual host on AWS)
  const probe = await s3.presignGet('artifacts', toStorageKey('origin-probe'), { expiresIn: 60 });
  return { storage: instrumentStorage(s3, metrics), storageOrigin: new URL(probe).origin };
}
