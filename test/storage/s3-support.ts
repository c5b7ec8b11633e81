/**
 * The S3 tests' access to the radosgw that test/support/global-setup.ts started: a client built from
 * the environment it exports, and fresh uniquely named buckets that are removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client, ensureBuckets } from '../../src/storage/s3/client';

/** Drops the SDK's console warnings (e.g. on every refused conditional PUT with a stream body). */
export const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Fails (never skips) when no S3 server is configured: the S3 suites must run in every test run. */
export function s3ClientFromEnv(): S3Client {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    throw new Error(
      'S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are not set: test/support/global-setup.ts ' +
        'should have started radosgw (bash scripts/ceph-rgw.sh install, if ceph is missing)',
    );
  }
  return createS3Client({
    endpoint: S3_ENDPOINT,
    region: S3_REGION ?? 'us-east-1',
    forcePathStyle: true,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    logger: quietLogger,
  });
}

export function uniqueBucketName(role: string): string {
  return `agw-test-${role}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export async function createBuckets(client: S3Client, ...roles: string[]): Promise<string[]> {
  const names = roles.map(uniqueBucketName);
  await ensureBuckets(client, names);
  return names;
}

/** Every key in the bucket, whatever its shape (including the driver's staging keys). */
export async function allKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

export async function pendingMultipartUploads(client: S3Client, bucket: string): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (out.Uploads ?? []).map((u) => u.Key!);
}

/** Empties and deletes the buckets (objects and unfinished multipart uploads). */
export async function removeBuckets(client: S3Client, names: string[]): Promise<void> {
  for (const bucket of names) {
    for (const key of await allKeys(client, bucket)) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  }
}
