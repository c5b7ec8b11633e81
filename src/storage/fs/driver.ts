/**
 * The `fs` driver: the embedded default for one machine (what `npm start` runs on). The on-disk
 * format is in layout.ts; the signed blob URLs standing in for S3's presigned ones are in
 * blob-url.ts and served by the gateway's blob route (src/http/fs-blob-route.ts).
 *
 * - Writes (write.ts) go to a temp file, fsynced, then published by rename or link.
 * - Reads use the handle the header was read from, so header and body are always one version.
 * - The root and bucket directories are created on first use, not by the constructor
 *   (constructing a driver has no side effects).
 * - delete() removes directories left empty, so a cache under churn does not pile them up;
 *   writers retry the one window in which a prune can remove their directory.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { AppError, NotFoundError, RangeNotSatisfiableError, StorageUnavailableError } from '../../errors';
import { checkByteRange } from '../byte-ranges';
import type { KeyPrefix, StorageKey } from '../keys';
import { checkLevel, listLimit, pageStart, pageToken } from '../list-pages';
import {
  BUCKETS,
  type BucketName,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type PrefixPage,
  type PresignGetOptions,
  type PresignPutOptions,
  type ReadOptions,
  type ReadResult,
  type Storage,
  type UploadedPart,
  type WriteOptions,
} from '../storage';
import { BlobSigner, type BlobGrant, type BlobMethod, type SignedBlobs } from './blob-url';
import { EmulatedMultipart } from './emulated-multipart';
import { fsError } from './errors';
import { checkCaseSensitive, dirPath, isMissing, objectPath, readHeader, subdirectories, tempFiles, walk } from './layout';
import { writeObject } from './write';

export interface FsStorageOptions {
  root: string;
  /** Where the blob route is mounted, as clients reach it, e.g. `https://gw.example/_blob`. */
  blobBaseUrl: string;
  signingSecret: Buffer | string;
  /** The clock for URL expiry, in ms. */
  now?: () => number;
}

export class FsStorage implements Storage, SignedBlobs {
  readonly driver = 'fs' as const;
  private readonly root: string;
  private readonly signer: BlobSigner;
  private ready?: Promise<void>;

  constructor(opts: FsStorageOptions) {
    this.root = opts.root;
    this.signer = new BlobSigner(opts.signingSecret, opts.blobBaseUrl, opts.now ?? Date.now);
  }

  /** SignedBlobs: the blob route's base URL, without a trailing '/'. */
  get blobBaseUrl(): string {
    return this.signer.baseUrl;
  }

  async stat(bucket: BucketName, key: StorageKey): Promise<ObjectInfo | null> {
    const handle = await this.openObject(bucket, key);
    if (!handle) return null;
    try {
      return (await describe(handle, key)).info;
    } catch (err) {
      throw fsError(err, 'stat');
    } finally {
      await handle.close();
    }
  }

  async read(bucket: BucketName, key: StorageKey, options: ReadOptions = {}): Promise<ReadResult> {
    options.signal?.throwIfAborted();
    if (options.range) checkByteRange(options.range);
    const handle = await this.openObject(bucket, key);
    if (!handle) throw new NotFoundError('no such object');
    try {
      const { info, bodyAt } = await describe(handle, key);
      const { size } = info;
      let range: { start: number; end: number } | undefined;
      if (options.range && size > 0) {
        const { start, end = size - 1 } = options.range;
        if (start >= size) throw new RangeNotSatisfiableError(`the range starts past the last byte`, size);
        range = { start, end: Math.min(end, size - 1) };
      }
      let body: Readable;
      if (size === 0) {
        await handle.close();
        body = Readable.from([]);
      } else {
        // through the handle the header came from: an overwrite renames a new inode into place,
        // so header and body always belong to one version; the stream closes the handle
        const [from, to] = range ? [range.start, range.end] : [0, size - 1];
        body = handle.createReadStream({ start: bodyAt + from, end: bodyAt + to });
      }
      if (options.signal) {
        addAbortSignal(options.signal, body);
        // an abort destroys the stream with an AbortError; when the signal is aborted already (the
        // client left while the header was read) that comes before the caller can listen for it,
        // and an 'error' with no listener would crash the process
        body.on('error', () => undefined);
      }
      return range ? { info, body, range } : { info, body };
    } catch (err) {
      await handle.close().catch(() => {});
      throw fsError(err, 'read');
    }
  }

  async write(bucket: BucketName, key: StorageKey, body: Readable, options: WriteOptions = {}): Promise<ObjectInfo> {
    return writeObject(this.pathOf(bucket, key), key, body, options, () => this.init());
  }

  async delete(bucket: BucketName, key: StorageKey): Promise<void> {
    const { dir, file } = this.pathOf(bucket, key);
    try {
      await fsp.unlink(file);
    } catch (err) {
      if (!isMissing(err)) throw fsError(err, 'delete');
    }
    // prune parents left empty; rmdir refuses a non-empty directory, so this never loses a key
    const top = join(this.root, bucket);
    for (let d = dir; d !== top; d = dirname(d)) {
      if (
        !(await fsp.rmdir(d).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
  }

  async list(bucket: BucketName, prefix: KeyPrefix, options: ListOptions = {}): Promise<ListPage> {
    const limit = listLimit(options.limit);
    const after = options.pageToken === undefined ? undefined : Buffer.from(pageStart(options.pageToken, prefix));
    const cut = prefix.lastIndexOf('/') + 1;
    const start = dirPath(join(this.root, bucket), prefix.slice(0, cut).split('/').slice(0, -1));
    const keys: StorageKey[] = [];
    try {
      for await (const k of walk(start, prefix.slice(0, cut), prefix.slice(cut), after)) {
        if (keys.push(k) > limit) break;
      }
    } catch (err) {
      throw fsError(err, 'list');
    }
    const page = keys.slice(0, limit);
    const items: ObjectInfo[] = [];
    // a few opens at a time, so a 1000-item page cannot exhaust file descriptors
    for (let i = 0; i < page.length; i += 16) {
      for (const info of await Promise.all(page.slice(i, i + 16).map((k) => this.stat(bucket, k)))) {
        // a key deleted since its directory was read is simply not listed; content type and
        // metadata are left out as S3 leaves them out, so no caller comes to rely on them
        if (!info) continue;
        const { key, size, etag, lastModified } = info;
        items.push({ key, size, etag, lastModified });
      }
    }
    const last = page[page.length - 1];
    if (keys.length <= limit || last === undefined) return { items };
    return { items, nextPageToken: pageToken(last) };
  }

  async listPrefixes(bucket: BucketName, prefix: KeyPrefix, options: ListOptions = {}): Promise<PrefixPage> {
    checkLevel(prefix);
    const limit = listLimit(options.limit);
    const after = options.pageToken === undefined ? undefined : Buffer.from(pageStart(options.pageToken, prefix));
    let names: string[];
    try {
      names = await subdirectories(dirPath(join(this.root, bucket), prefix.split('/').slice(0, -1)));
    } catch (err) {
      throw fsError(err, 'list');
    }
    // a directory left behind with no object below it is no prefix: S3 would not list it
    const found: KeyPrefix[] = [];
    const candidates = names
      .map((name) => Buffer.from(`${prefix}${name}/`))
      .filter((p) => !after || Buffer.compare(p, after) > 0)
      .sort(Buffer.compare);
    for (const candidate of candidates) {
      const p = candidate.toString() as KeyPrefix;
      if ((await this.list(bucket, p, { limit: 1 })).items.length === 0) continue;
      if (found.push(p) > limit) break;
    }
    const page = found.slice(0, limit);
    return found.length > limit ? { prefixes: page, nextPageToken: pageToken(page[page.length - 1]) } : { prefixes: page };
  }

  async presignGet(bucket: BucketName, key: StorageKey, options: PresignGetOptions): Promise<string> {
    this.pathOf(bucket, key);
    return this.signer.sign({ method: 'GET', bucket, key, ...options });
  }

  async presignPut(bucket: BucketName, key: StorageKey, options: PresignPutOptions): Promise<string> {
    this.pathOf(bucket, key);
    return this.signer.sign({ method: 'PUT', bucket, key, ...options });
  }

  /** SignedBlobs: what the request's URL allows, or ForbiddenError. HEAD uses GET's. */
  verifyBlobRequest(method: BlobMethod, bucket: string, key: string, query: URLSearchParams): BlobGrant {
    return this.signer.verify(method, bucket, key, query);
  }

  async removeAbandonedWrites(startedBefore: Date): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for (const bucket of BUCKETS) {
      for await (const tmp of tempFiles(join(this.root, bucket))) {
        const info = await fsp.lstat(tmp).catch(() => null); // finished (renamed) meanwhile
        if (!info || info.mtime >= startedBefore) continue; // a write in flight touches its file
        if (
          await fsp.unlink(tmp).then(
            () => true,
            () => false,
          )
        ) {
          count++;
          bytes += info.size;
        }
      }
      const uploads = await this.multipart.abortStartedBefore(bucket, startedBefore);
      count += uploads.count;
      bytes += uploads.bytes;
    }
    return { count, bytes };
  }

  async ping(): Promise<void> {
    try {
      await this.init();
      const rwx = fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK;
      for (const b of BUCKETS) await fsp.access(join(this.root, b), rwx);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new StorageUnavailableError('fs storage: a bucket directory is not accessible', { cause: err });
    }
  }

  async close(): Promise<void> {}

  // multipart uploads: emulated with ordinary objects (emulated-multipart.ts)
  private readonly multipart = new EmulatedMultipart(this);

  createMultipartUpload(bucket: BucketName, key: StorageKey): Promise<string> {
    return this.multipart.create(bucket, key);
  }

  presignUploadPart(bucket: BucketName, key: StorageKey, uploadId: string, partNumber: number, options: { expiresIn: number }): Promise<string> {
    return this.multipart.presignPart(bucket, key, uploadId, partNumber, options.expiresIn);
  }

  completeMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string, parts: UploadedPart[]): Promise<ObjectInfo> {
    return this.multipart.complete(bucket, key, uploadId, parts);
  }

  abortMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string): Promise<void> {
    return this.multipart.abort(bucket, key, uploadId);
  }

  /** Creates the root and buckets once; a failure is retried by the next call. */
  private init(): Promise<void> {
    this.ready ??= (async () => {
      for (const b of BUCKETS) await fsp.mkdir(join(this.root, b), { recursive: true });
      await checkCaseSensitive(this.root);
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw fsError(err, 'opening the storage root');
    });
    return this.ready;
  }

  private pathOf(bucket: BucketName, key: StorageKey): { dir: string; file: string } {
    return objectPath(join(this.root, bucket), key);
  }

  private async openObject(bucket: BucketName, key: StorageKey): Promise<FileHandle | null> {
    const { file } = this.pathOf(bucket, key);
    try {
      return await fsp.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return null;
      throw fsError(err, 'open');
    }
  }
}

async function describe(handle: FileHandle, key: StorageKey): Promise<{ info: ObjectInfo; bodyAt: number }> {
  const [header, st] = await Promise.all([readHeader(handle), handle.stat()]);
  // built here, not taken from Stats: fs's own Dates come from another realm under jest's vm
  const { etag, bodyAt } = header;
  const info: ObjectInfo = { key, size: st.size - bodyAt, etag, lastModified: new Date(st.mtimeMs) };
  if (header.contentType !== undefined) info.contentType = header.contentType;
  if (header.metadata !== undefined) info.metadata = header.metadata;
  return { info, bodyAt };
}
