/**
 * The `s3` storage driver: any S3-compatible server (AWS, Ceph radosgw, MinIO, R2). Tested against
 * a real radosgw 16.2 (test/storage/s3*.test.ts); the radosgw quirks it works around are pinned
 * there, so an upgrade that changes them fails a test instead of silently changing behaviour.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BadRequestError, NotFoundError, RangeNotSatisfiableError, StorageError } from '../../errors';
import { checkByteRange } from '../byte-ranges';
import type { KeyPrefix, StorageKey } from '../keys';
import { checkLevel, listLimit, pageStart, pageToken } from '../list-pages';
import type {
  BucketName,
  ListOptions,
  ListPage,
  ObjectInfo,
  PrefixPage,
  PresignGetOptions,
  PresignPutOptions,
  ReadOptions,
  ReadResult,
  Storage,
  UploadedPart,
  WriteOptions,
} from '../storage';
import { resolveTimeouts, type S3Timeouts } from './client';
import { codeOf, s3Error, statusOf } from './errors';
import { GetAgents, s3Get, type GetTimeouts } from './get';
import { multipartEtag, removeAbandonedWrites } from './leftovers';
import { asStorageKey, cancellable, mapBodyErrors, metadataOf, quoted, toInfo } from './objects';
import { SigV4Presigner, type PresignOperation } from './sigv4-presigner';
import { S3Writer, STAGING_PREFIX } from './write';

/** Reads sign their own URL and send it at once: the expiry only has to outlast clock skew. */
const READ_URL_EXPIRES = 900;

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
  private readonly writer: S3Writer;

  constructor(opts: {
    client: S3Client;
    /**
     * Signs presigned URLs when clients reach S3 by another endpoint than the gateway (e.g. https
     * through a proxy that keeps Host): SigV4 signs the host, so the URL must name the public one.
     */
    presignClient?: S3Client;
    buckets: { artifacts: string; cache: string };
    /** The timeouts `client` was made with (createS3Client): reads bypass the SDK and apply them themselves. */
    timeouts?: S3Timeouts;
    partSize?: number;
    queueSize?: number;
  }) {
    this.client = opts.client;
    this.presignClient = opts.presignClient ?? opts.client;
    this.presigner = new SigV4Presigner(this.presignClient);
    this.readPresigner = this.presignClient === this.client ? this.presigner : new SigV4Presigner(this.client);
    this.timeouts = resolveTimeouts(opts.timeouts);
    this.names = { artifacts: opts.buckets.artifacts, cache: opts.buckets.cache };
    this.writer = new S3Writer(this.client, opts);
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
      // presigned on the internal endpoint and fetched with node:http: see get.ts
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
    const result: ReadResult = {
      info,
      body: cancellable(
        mapBodyErrors(res, (e) => s3Error(e, 'GetObject', this.where(bucket, key))),
        signal,
      ),
    };
    if (m) result.range = { start: Number(m[1]), end: Number(m[2]) };
    else if (range) result.range = { start: 0, end: size - 1 }; // a server that ignored Range sent it all
    return result;
  }

  /** See write.ts for which S3 calls a body takes. */
  write(bucket: BucketName, key: StorageKey, body: Readable, options: WriteOptions = {}): Promise<ObjectInfo> {
    return this.writer.write(this.names[bucket], key, body, options);
  }

  async delete(bucket: BucketName, key: StorageKey): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.names[bucket], Key: key }));
    } catch (e) {
      throw s3Error(e, 'DeleteObject', this.where(bucket, key));
    }
  }

  async list(bucket: BucketName, prefix: KeyPrefix, options: ListOptions = {}): Promise<ListPage> {
    const limit = listLimit(options.limit);
    const startAfter = options.pageToken === undefined ? undefined : pageStart(options.pageToken, prefix);
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
    return out.IsTruncated && lastKey ? { items, nextPageToken: pageToken(lastKey) } : { items };
  }

  async listPrefixes(bucket: BucketName, prefix: KeyPrefix, options: ListOptions = {}): Promise<PrefixPage> {
    checkLevel(prefix);
    const limit = listLimit(options.limit);
    const after = options.pageToken === undefined ? undefined : pageStart(options.pageToken, prefix);
    // StartAfter a prefix still lists the keys below it, which S3 rolls up into that same
    // prefix again: skip it, following S3's own token, until a page's worth of new ones is in
    const found: KeyPrefix[] = [];
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.names[bucket],
            Prefix: prefix || undefined,
            Delimiter: '/',
            MaxKeys: limit + 1,
            ...(token ? { ContinuationToken: token } : { StartAfter: after }),
          }),
        );
      } catch (e) {
        throw s3Error(e, 'ListObjectsV2', this.where(bucket, prefix));
      }
      for (const p of out.CommonPrefixes ?? []) {
        const key = asStorageKey(p.Prefix?.slice(0, -1));
        if (key && (after === undefined || Buffer.compare(Buffer.from(p.Prefix!), Buffer.from(after)) > 0)) found.push(`${key}/` as KeyPrefix);
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token && found.length <= limit);
    const page = found.slice(0, limit);
    // the loop stops early only with more than a page in hand
    return found.length > limit ? { prefixes: page, nextPageToken: pageToken(page[page.length - 1]) } : { prefixes: page };
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

  private where(bucket: BucketName, key: string): string {
    return `s3://${this.names[bucket]}/${key}`;
  }
}
