/**
 * Builds real storage for HTTP tests: the fs driver in a temp dir, or the s3 driver on the
 * radosgw that global-setup started, with fresh buckets. Used with describe.each(DRIVERS) so
 * every HTTP behaviour is proven on both.
 */
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config';
import type { Metrics } from '../../src/http/metrics';
import { createStorage, type StorageBundle } from '../../src/storage/create-storage';
import { makeConfig } from './make-config';

export type DriverName = 'fs' | 's3';
export const DRIVERS: DriverName[] = ['fs', 's3'];

export interface DriverHarness extends StorageBundle {
  config: Config;
  cleanup(): Promise<void>;
}

/** S3 env from global-setup; fails loudly (never skips) if the server is not there. */
export function s3Env(): Record<string, string> {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    throw new Error('S3_ENDPOINT and credentials are not set: the jest global setup should have started radosgw');
  }
  return {
    STORAGE_DRIVER: 's3',
    S3_ENDPOINT,
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    S3_REGION: process.env.S3_REGION ?? 'us-east-1',
  };
}

/** Aborts a bucket's pending multipart uploads, deletes its objects, then the bucket; absent is fine. */
export async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    for (;;) {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      for (const u of uploads.Uploads ?? []) {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => undefined);
      }
      if (!uploads.IsTruncated) break;
    }
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
  }
}

export async function makeDriver(driver: DriverName, metrics: Metrics, env: Record<string, string> = {}): Promise<DriverHarness> {
  if (driver === 'fs') {
    const dir = await mkdtemp(join(tmpdir(), 'agw-fs-'));
    const config = makeConfig({ DATA_DIR: dir, ...env });
    const bundle = await createStorage(config, metrics, config.signingSecret!);
    return {
      ...bundle,
      config,
      cleanup: async () => {
        await bundle.storage.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const id = randomBytes(4).toString('hex');
  const config = makeConfig({
    ...s3Env(),
    ARTIFACTS_BUCKET: `agw-test-artifacts-${id}`,
    CACHE_BUCKET: `agw-test-cache-${id}`,
    S3_CREATE_BUCKETS: 'true',
    ...env,
  });
  const bundle = await createStorage(config, metrics, config.signingSecret!);
  return {
    ...bundle,
    config,
    cleanup: async () => {
      const { createS3Client } = await import('../../src/storage/s3/client');
      const sc = config.storage as Extract<Config['storage'], { driver: 's3' }>;
      const client = createS3Client(sc);
      try {
        await emptyAndDeleteBucket(client, sc.artifactsBucket);
        await emptyAndDeleteBucket(client, sc.cacheBucket);
      } finally {
        client.destroy();
        await bundle.storage.close();
      }
    },
  };
}
