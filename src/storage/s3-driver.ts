/**
 * The `s3` storage driver: any S3-compatible server (AWS, Ceph radosgw, MinIO, R2). Tested against
 * a real radosgw 16.2 (test/storage/s3*.test.ts); the radosgw quirks it works around are pinned
 * there, so an upgrade that changes them fails a test instead of silently changing behaviour.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  AlreadyExistsError, BadRequestError, NotFoundError, PayloadTooLargeError, RangeNotSatisfiableError, StorageError,
} from '../errors';
import { toStorageKey, type KeyPrefix, type StorageKey } from './keys';
import { guard as guardBody, readHead, rejoin } from './s3-body';
import { codeOf, s3Error, statusOf } from './s3-errors';
import { multipartEtag, removeAbandonedWrites } from './s3-leftovers';
import { GetAgents, s3Get, type GetTimeouts } from './s3-get';
import { SigV4Presigner, type PresignOperation } from './sigv4-presigner';
import {
  checkByteRange, listLimit, type BucketName, type ListOptions, type ListPage, type ObjectInfo, type PresignGetOptions,
  type PresignPutOptions, type ReadOptions, type ReadResult, type Storage, type UploadedPart, type WriteOptions,
} from './storage';

const MiB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MiB; // S3's minimum for every part but the last
const MAX_PARTS = 10_000;
/** S3's (and radosgw's default rgw_max_put_size) limit on one PutObject: caps create-only writes. */
export const MAX_PUT_BYTES = 5 * 1024 * MiB;
/**
 * Large create-only bodies of unknown length are staged here. The backslash makes it a key that
 * keys.ts never produces: no user key can collide with it, no gateway URL can name it, list()
 * skips it. A crash between staging and cleanup leaves one behind: give the buckets a lifecycle
 * rule expiring this prefix (and AbortIncompleteMultipartUpload) after a day.
 */
export const STAGING_PREFIX = '\\agw-staging\\';

export interface S3ClientOptions {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Default 3 s: a refused connection fails at once anyway; this bounds a black-holed host. */
  connectionTimeoutMs?: number;
  /** Socket inactivity (default 30 s). Also cuts a download whose reader stalls that long. */
  socketTimeoutMs?: number;
  /** How long a read waits for S3 to start answering (default 5 s); then 503, not retried. */
  responseTimeoutMs?: number;
  /** The SDK warns through console by default; pass the app's logger. */
  logger?: S3ClientConfig['logger'];
}

/** Reads bypass the SDK (s3-get.ts) but keep the timeouts the client was made with. */
const clientTimeouts = new WeakMap<S3Client, GetTimeouts>();
const DEFAULT_TIMEOUTS: GetTimeouts = { connectMs: 3_000, socketMs: 30_000, responseMs: 5_000 };
/** Reads sign their own URL and send it at once: the expiry only has to outlast clock skew. */
const READ_URL_EXPIRES = 900;

export function createS3Client(opts: S3ClientOptions): S3Client {
  const { accessKeyId, secretAccessKey, sessionToken } = opts;
  const timeouts = {
    connectMs: opts.connectionTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
    socketMs: opts.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketMs,
    responseMs: opts.responseTimeoutMs ?? DEFAULT_TIMEOUTS.responseMs,
  };
  const client = new S3Client({
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
  clientTimeouts.set(client, timeouts);
  return client;
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

export class S3Storage implements Storage {
  readonly driver = 's3' as const;
  private readonly client: S3Client;
  private readonly presignClient: S3Client;
  private readonly presigner: SigV4Presigner;
  /** Signs the URLs read() fetches itself, on the internal endpoint. */
  private readonly readPresigner: SigV4Presigner;
  private readonly timeouts: GetTimeouts;
  private readonly agents = new GetAgents();
  private readonly names: Record<BucketName, string>;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(opts: {
    client: S3Client;
    /**
     * Signs presigned URLs when clients reach S3 by another endpoint than the gateway (e.g. https
     * through a proxy that keeps Host): SigV4 signs the host, so the URL must name the public one.
     */
    presignClient?: S3Client;
    buckets: { artifacts: string; cache: string };
    partSize?: number;
    queueSize?: number;
  }) {
    this.client = opts.client;
    this.presignClient = opts.presignClient ?? opts.client;
    this.presigner = new SigV4Presigner(this.presignClient);
    this.readPresigner = this.presignClient === this.client ? this.presigner : new SigV4Presigner(this.client);
    this.timeouts = clientTimeouts.get(this.client) ?? DEFAULT_TIMEOUTS;
    this.names = { artifacts: opts.buckets.artifacts, cache: opts.buckets.cache };
    this.partSize = opts.partSize ?? 8 * MiB;
    // memory per write is about (queueSize + 1) * partSize
    this.queueSize = opts.queueSize ?? 2;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new Error(`partSize must be an integer of at least ${MIN_PART_SIZE} bytes (S3's minimum part size)`);
    }
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) {
      throw new Error('queueSize must be a positive integer');
    }
  }

  async stat(bucket: BucketName, key: StorageKey): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.names[bucket], Key: key }));
      return toInfo(key, out.ContentLength ?? 0, out);
    } catch (e) {
      const err = s3Error(e, 'HeadObject', this.where(bucket, key));
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  async read(bucket: BucketName, key: StorageKey, options: ReadOptions = {}): Promise<ReadResult> {
    const { range, signal } = options;
    // radosgw answers 416 to an inverted range where AWS ignores it: refuse it the same everywhere
    if (range) checkByteRange(range);
    let res;
    try {
      // presigned on the internal endpoint and fetched with node:http: see s3-get.ts
      const url = await this.readPresigner.presign({ command: 'GetObject', Bucket: this.names[bucket], Key: key }, READ_URL_EXPIRES);
      const Range = range && `bytes=${range.start}-${range.end ?? ''}`;
      res = await s3Get(url, { range: Range, signal, timeouts: this.timeouts, agents: this.agents });
    } catch (e) {
      throw s3Error(e, 'GetObject', this.where(bucket, key));
    }
    if (res.statusCode === 416) {
      // S3 416 answers carry no object size (radosgw sends neither Content-Range nor
      // ActualObjectSize), and radosgw refuses every range of an empty object, which HTTP serves whole.
      const info = await this.stat(bucket, key);
      if (!info) throw new NotFoundError(`${key} does not exist`);
      if (info.size > 0) {
        throw new RangeNotSatisfiableError(`range starts at ${range!.start}, past the last byte`, info.size);
      }
      return { info, body: cancellable(Readable.from([]), signal) };
    }
    const h = res.headers;
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h['content-range'] ?? '');
    const size = m ? Number(m[3]) : Number(h['content-length'] ?? 0);
    const info = toInfo(key, size, {
      ETag: h.etag,
      LastModified: h['last-modified'] ? new Date(h['last-modified']) : undefined,
      ContentType: h['content-type'],
      Metadata: metadataOf(h),
    });
    const result: ReadResult = { info, body: cancellable(mapBodyErrors(res, (e) => s3Error(e, 'GetObject', this.where(bucket, key))), signal) };
    if (m) result.range = { start: Number(m[1]), end: Number(m[2]) };
    else if (range) result.range = { start: 0, end: size - 1 }; // a server that ignored Range sent it all
    return result;
  }

  /**
   * Create-only writes must stay atomic, but radosgw 16.2 honours If-None-Match only on a plain
   * PutObject (atomic: measured with 8 overlapping writers, always one 200 and seven 412). It
   * ignores it on CompleteMultipartUpload, and on a CopyObject's destination, and overwrites.
   * So every create-only write ends in one conditional PutObject:
   *  - a body that fits in one part: buffered, one PutObject (which the SDK can retry);
   *  - a longer body of declared length: streamed in one PutObject (hence MAX_PUT_BYTES);
   *  - a longer body of unknown length: uploaded to a staging key (multipart), then streamed
   *    from there into one conditional PutObject and deleted: three transfers, but only for
   *    bodies the HTTP layer let in without a length.
   * radosgw checks the condition only after it has read the whole body, so bodies larger than a
   * part first check that the key is absent (an optimisation; the PutObject decides).
   *
   * Plain writes of declared length stream in one PutObject too, up to 5 GiB: no part buffers
   * (memory stays at the sockets'), and measured 1.3-1.6x the throughput of a multipart upload
   * with two parts in flight (bench figure 5). What it gives up is the SDK's retry of a failed
   * part: a streamed body cannot be replayed, so a dropped connection fails the write and the
   * client, which holds the bytes, retries the whole upload. Longer or unknown-length plain
   * writes go multipart.
   */
  async write(
    bucket: BucketName,
    key: StorageKey,
    body: Readable,
    options: WriteOptions = {},
  ): Promise<ObjectInfo> {
    const { contentLength, ifNoneMatch = false } = options;
    const name = this.names[bucket];
    const partSize = Math.max(this.partSize, Math.ceil((contentLength ?? 0) / MAX_PARTS));
    if (ifNoneMatch && contentLength !== undefined) {
      if (contentLength > MAX_PUT_BYTES) {
        throw new PayloadTooLargeError(`create-only writes are limited to ${MAX_PUT_BYTES} bytes (one S3 PutObject)`);
      }
      if (contentLength > partSize) await this.refuseIfExists(bucket, key);
    }
    const { guard, detach } = guardBody(body, contentLength, ifNoneMatch ? MAX_PUT_BYTES : Infinity);
    try {
      if (contentLength !== undefined && contentLength > partSize && contentLength <= MAX_PUT_BYTES) {
        return await this.put(name, key, guard, options, contentLength);
      }
      const head = await readHead(guard, partSize);
      if (!head.rest) return await this.put(name, key, Buffer.concat(head.chunks), options);
      const rest = rejoin(head.chunks, head.rest);
      if (!ifNoneMatch) {
        await this.multipart(name, key, rest, options, partSize);
        // radosgw answers CompleteMultipartUpload with an empty ETag; HeadObject has the right one
        const out = await this.client.send(new HeadObjectCommand({ Bucket: name, Key: key }));
        return toInfo(key, out.ContentLength ?? 0, out);
      }
      await this.refuseIfExists(bucket, key);
      return await this.stageAndPublish(name, key, rest, options, partSize);
    } catch (e) {
      // the body's own failure (client went away, wrong length) wins over what it caused in the SDK
      throw guard.failure ?? s3Error(e, 'write', `s3://${name}/${key}`);
    } finally {
      detach();
    }
  }

  async delete(bucket: BucketName, key: StorageKey): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.names[bucket], Key: key }));
    } catch (e) {
      throw s3Error(e, 'DeleteObject', this.where(bucket, key));
    }
  }

  async list(bucket: BucketName, prefix: KeyPrefix, options: ListOptions = {}): Promise<ListPage> {
    const { pageToken } = options;
    const limit = listLimit(options.limit);
    // Page tokens are the last key of the previous page (StartAfter), base64url: the same
    // stateless, checkable form as the fs driver's. S3's own continuation tokens are opaque, and
    // radosgw accepts any string as one, so a forged token could not be told from a real one.
    let startAfter: string | undefined;
    if (pageToken !== undefined) {
      startAfter = Buffer.from(pageToken, 'base64url').toString('utf8');
      if (startAfter === '' || Buffer.from(startAfter, 'utf8').toString('base64url') !== pageToken || !startAfter.startsWith(prefix)) {
        throw new BadRequestError('the page token is not one this listing gave out', 'invalid_page_token');
      }
    }
    let out;
    try {
      out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.names[bucket],
          Prefix: prefix || undefined,
          MaxKeys: limit,
          StartAfter: startAfter,
        }),
      );
    } catch (e) {
      throw s3Error(e, 'ListObjectsV2', this.where(bucket, prefix));
    }
    // keys the gateway cannot address (staging leftovers, objects put there by other tools) are
    // not listed, so a page may hold fewer than `limit` items
    const items = (out.Contents ?? []).flatMap((o): ObjectInfo[] => {
      const key = asStorageKey(o.Key);
      if (!key) return [];
      return [{ key, size: o.Size ?? 0, etag: quoted(o.ETag), lastModified: o.LastModified ?? new Date(0) }];
    });
    const lastKey = out.Contents?.at(-1)?.Key;
    const token = out.IsTruncated && lastKey ? Buffer.from(lastKey, 'utf8').toString('base64url') : undefined;
    return token ? { items, nextPageToken: token } : { items };
  }

  presignGet(bucket: BucketName, key: StorageKey, options: PresignGetOptions): Promise<string> {
    return this.presign(
      {
        command: 'GetObject',
        Bucket: this.names[bucket],
        Key: key,
        ResponseContentType: options.responseContentType,
        ResponseContentDisposition: options.responseContentDisposition,
      },
      options.expiresIn,
    );
  }

  /**
   * `contentType` is not part of an S3 URL: the SDK's presigner never signs Content-Type (it is
   * on its unsignable list), so the object gets whatever type the uploader sends.
   */
  presignPut(bucket: BucketName, key: StorageKey, options: PresignPutOptions): Promise<string> {
    return this.presign({ command: 'PutObject', Bucket: this.names[bucket], Key: key }, options.expiresIn);
  }

  async createMultipartUpload(bucket: BucketName, key: StorageKey): Promise<string> {
    try {
      const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.names[bucket], Key: key }));
      if (!out.UploadId) throw new StorageError('CreateMultipartUpload answered without an UploadId');
      return out.UploadId;
    } catch (e) {
      throw s3Error(e, 'CreateMultipartUpload', this.where(bucket, key));
    }
  }

  presignUploadPart(bucket: BucketName, key: StorageKey, uploadId: string, partNumber: number, options: { expiresIn: number }): Promise<string> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
      throw new BadRequestError('part numbers run from 1 to 10000');
    }
    return this.presign({ command: 'UploadPart', Bucket: this.names[bucket], Key: key, UploadId: uploadId, PartNumber: partNumber }, options.expiresIn);
  }

  async completeMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string, parts: UploadedPart[]): Promise<ObjectInfo> {
    if (parts.length === 0) throw new BadRequestError('a multipart upload needs at least one part');
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.names[bucket],
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: quoted(p.etag) })) },
        }),
      );
    } catch (e) {
      const name = codeOf(e);
      // radosgw answers an aborted or unknown upload with 404 NoSuchUpload
      if (name === 'NoSuchUpload' || statusOf(e) === 404) {
        // and so it may answer the SDK's retry of a completion whose answer was lost (seen under
        // a proxy cutting answers: the first completion still finishing as the retry arrives).
        // Then the object appears with the ETag these very parts make: that is our success.
        const expected = multipartEtag(parts);
        for (let look = 0; expected !== undefined && look < 5; look++) {
          const done = await this.stat(bucket, key);
          if (done && done.etag.replace(/"/g, '') === expected) return done;
          await new Promise((r) => setTimeout(r, 400));
        }
        throw new NotFoundError('no such multipart upload');
      }
      if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
        throw new BadRequestError(`the parts do not make a valid upload (${name})`);
      }
      throw s3Error(e, 'CompleteMultipartUpload', this.where(bucket, key));
    }
    // radosgw answers CompleteMultipartUpload with an empty ETag; HeadObject has the real one
    const info = await this.stat(bucket, key);
    if (!info) throw new StorageError('the completed multipart object is not there');
    return info;
  }

  async abortMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.names[bucket], Key: key, UploadId: uploadId }));
    } catch (e) {
      if (codeOf(e) === 'NoSuchUpload' || statusOf(e) === 404) return;
      throw s3Error(e, 'AbortMultipartUpload', this.where(bucket, key));
    }
  }

  removeAbandonedWrites(startedBefore: Date): Promise<{ count: number; bytes: number }> {
    return removeAbandonedWrites(this.client, this.names, STAGING_PREFIX, startedBefore);
  }

  async ping(): Promise<void> {
    await Promise.all(
      Object.values(this.names).map(async (name) => {
        try {
          await this.client.send(new HeadBucketCommand({ Bucket: name }));
        } catch (e) {
          throw s3Error(e, 'HeadBucket', name);
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.agents.destroy();
    this.client.destroy();
    if (this.presignClient !== this.client) this.presignClient.destroy();
  }

  /**
   * The one place that signs URLs. Every passive artifact GET is one of these, so it is the
   * redirect path's hot spot: SigV4Presigner makes the SDK's URLs byte for byte at ~1/20 of
   * getSignedUrl's cost (bench/, test/storage/sigv4-presigner.test.ts).
   */
  private async presign(op: PresignOperation, expiresIn: number): Promise<string> {
    try {
      return await this.presigner.presign(op, expiresIn);
    } catch (e) {
      throw s3Error(e, 'presign', `s3://${op.Bucket}/${op.Key}`);
    }
  }

  /**
   * One PutObject of a buffer or a stream of known length; conditional with ifNoneMatch. (The SDK
   * retries a buffer after a network error: if the lost attempt had stored it, the retry of a
   * conditional PUT reports AlreadyExists for our own content. Rare, and the content is there.)
   */
  private async put(
    name: string,
    key: StorageKey,
    body: Buffer | Readable,
    options: WriteOptions,
    length?: number,
  ): Promise<ObjectInfo> {
    const size = Buffer.isBuffer(body) ? body.length : length!;
    // the SDK pipes a stream into the request and, if the stream fails, waits for the rest of the
    // body until the socket times out: abort the request instead
    const abort = new AbortController();
    let streamError: Error | undefined;
    if (!Buffer.isBuffer(body)) {
      body.once('error', (e) => {
        streamError = e;
        abort.abort();
      });
    }
    const { contentType, metadata } = options;
    try {
      const command = new PutObjectCommand({
        Bucket: name,
        Key: key,
        Body: body,
        ContentLength: size,
        ContentType: contentType,
        Metadata: metadata,
        IfNoneMatch: options.ifNoneMatch ? '*' : undefined,
      });
      const out = await this.client.send(command, { abortSignal: abort.signal });
      // PutObject returns no Last-Modified: the gateway's clock stands in (stat() has the server's)
      return { key, size, etag: quoted(out.ETag), lastModified: new Date(), contentType, metadata };
    } catch (e) {
      throw s3Error(streamError ?? e, 'PutObject', `s3://${name}/${key}`);
    }
  }

  /** Unconditional; on failure the upload is aborted, so no parts linger. */
  private async multipart(
    name: string,
    key: StorageKey,
    body: Readable,
    options: WriteOptions,
    partSize: number,
  ): Promise<void> {
    const { contentType, metadata } = options;
    const upload = new Upload({
      client: this.client,
      partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
      params: { Bucket: name, Key: key, Body: body, ContentType: contentType, Metadata: metadata },
    });
    await upload.done();
  }

  private async stageAndPublish(
    name: string,
    key: StorageKey,
    body: Readable,
    options: WriteOptions,
    partSize: number,
  ): Promise<ObjectInfo> {
    const staging = `${STAGING_PREFIX}${randomUUID()}` as StorageKey;
    try {
      await this.multipart(name, staging, body, {}, partSize);
      const staged = await this.client.send(new GetObjectCommand({ Bucket: name, Key: staging }));
      return await this.put(name, key, staged.Body as Readable, options, staged.ContentLength ?? 0);
    } finally {
      // best effort: a leftover is invisible to the gateway and expired by the lifecycle rule
      await this.client.send(new DeleteObjectCommand({ Bucket: name, Key: staging })).catch(() => undefined);
    }
  }

  private async refuseIfExists(bucket: BucketName, key: StorageKey): Promise<void> {
    if (await this.stat(bucket, key)) throw new AlreadyExistsError(`${key} already exists`);
  }

  private where(bucket: BucketName, key: string): string {
    return `s3://${this.names[bucket]}/${key}`;
  }
}

function quoted(etag: string | undefined): string {
  if (!etag || etag === '""') throw new StorageError('S3 returned an object without an ETag');
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

type HeadLike = { ETag?: string; LastModified?: Date; ContentType?: string; Metadata?: Record<string, string> };
function toInfo(key: StorageKey, size: number, out: HeadLike): ObjectInfo {
  return {
    key,
    size,
    etag: quoted(out.ETag),
    lastModified: out.LastModified ?? new Date(0),
    contentType: out.ContentType,
    metadata: out.Metadata ?? {},
  };
}

/** `x-amz-meta-*` response headers as the SDK's Metadata (names lower-cased, prefix dropped). */
function metadataOf(headers: IncomingHttpHeaders): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  return metadata;
}

function asStorageKey(raw: string | undefined): StorageKey | null {
  try {
    return raw === undefined ? null : toStorageKey(raw);
  } catch {
    return null;
  }
}

/** Destroys `body` when `signal` aborts, until the body closes. */
/**
 * A body that S3 cuts part-way (a reset, a server gone) fails its reader with the driver's typed
 * error, a 503 for a request still waiting, not with node's raw `aborted` socket error. Mapped in
 * the stream's own `_destroy`, not through an extra stream, so inline reads pay nothing for it.
 */
function mapBodyErrors(body: IncomingMessage, map: (err: Error) => Error): Readable {
  const destroy = body._destroy.bind(body);
  body._destroy = (err, done) => destroy(err, (failure) => done(failure ? map(failure) : failure));
  return body;
}

function cancellable(body: Readable, signal: AbortSignal | undefined): Readable {
  if (!signal) return body;
  const onAbort = () => body.destroy();
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return body;
}
