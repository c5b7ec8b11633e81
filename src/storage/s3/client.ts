/**
 * The S3 client the s3 driver talks through, and the timeouts it is made with. Reads bypass the
 * SDK (get.ts) but must keep the same timeouts: they are one value, S3Timeouts, given both to
 * createS3Client and to the driver.
 */
import { CreateBucketCommand, HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { codeOf, s3Error, statusOf } from './errors';
import type { GetTimeouts } from './get';

export interface S3Timeouts {
  /** Default 3 s: a refused connection fails at once anyway; this bounds a black-holed host. */
  connectionTimeoutMs?: number;
  /** Socket inactivity (default 30 s). Also cuts a download whose reader stalls that long. */
  socketTimeoutMs?: number;
  /** How long a read waits for S3 to start answering (default 5 s); then 503, not retried. */
  responseTimeoutMs?: number;
}

export interface S3ClientOptions extends S3Timeouts {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** The SDK warns through console by default; pass the app's logger. */
  logger?: S3ClientConfig['logger'];
}

/** The timeouts with their defaults filled in, as get.ts takes them. */
export function resolveTimeouts(t: S3Timeouts = {}): GetTimeouts {
  return { connectMs: t.connectionTimeoutMs ?? 3_000, socketMs: t.socketTimeoutMs ?? 30_000, responseMs: t.responseTimeoutMs ?? 5_000 };
}

export function createS3Client(opts: S3ClientOptions): S3Client {
  const { accessKeyId, secretAccessKey, sessionToken } = opts;
  const timeouts = resolveTimeouts(opts);
  return new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    // without explicit keys: the SDK's provider chain (env, profile, instance role)
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined,
    // The SDK's default (WHEN_SUPPORTED) sends stream bodies aws-chunked with a CRC32 trailer, which
    // radosgw 16 answers with 411, and signs checksum parameters into presigned PUT URLs.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    logger: opts.logger,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectMs,
      // No requestTimeout: it bounds the whole request, and a 5 GiB PUT legitimately takes minutes.
      socketTimeout: timeouts.socketMs,
      // the SDK's default of 50 queues requests under load; every streamed download holds one
      httpAgent: { keepAlive: true, maxSockets: 256 },
      httpsAgent: { keepAlive: true, maxSockets: 256 },
    }),
  });
}

/** Creates the buckets that do not exist yet (for a dev switch; production buckets are provisioned). */
export async function ensureBuckets(client: S3Client, names: readonly string[]): Promise<void> {
  for (const name of names) {
    try {
      await client.send(new HeadBucketCommand({ Bucket: name }));
      continue;
    } catch (e) {
      if (statusOf(e) !== 404) throw s3Error(e, 'HeadBucket', name);
    }
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } catch (e) {
      // another instance created it meanwhile (AWS outside us-east-1 says so; radosgw answers 200)
      if (codeOf(e) !== 'BucketAlreadyOwnedByYou') throw s3Error(e, 'CreateBucket', name);
    }
  }
}
