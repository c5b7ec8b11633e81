/**
 * The storage contract. Two drivers implement it (fs: the embedded default; s3: any
 * S3-compatible server) and ONE contract suite (test/storage/contract.ts) runs against both.
 * Every method documents how it fails; anything not listed surfaces as StorageUnavailableError
 * (could not reach storage: 503) or StorageError (storage answered wrongly: 500).
 */
import type { Readable } from 'node:stream';
import type { KeyPrefix, StorageKey } from './keys';

/** The two buckets: public-facing artifacts, and the private dependency/source cache. */
export type BucketName = 'artifacts' | 'cache';
export const BUCKETS: readonly BucketName[] = ['artifacts', 'cache'];

export interface ObjectInfo {
  key: StorageKey;
  size: number;
  /** Opaque strong validator, quoted as in HTTP (`"…"`). Changes whenever the content changes. */
  etag: string;
  lastModified: Date;
  /** Present on stat()/read() results; list() may omit it (S3 lists carry no content type). */
  contentType?: string;
  /** User metadata (lower-case names, ASCII values); present on stat()/read(), not on list(). */
  metadata?: Record<string, string>;
}

export interface WriteOptions {
  contentType?: string;
  /** Lower-case ASCII names and values; kept small (S3 allows 2 KiB in all). */
  metadata?: Record<string, string>;
  /** Create only: fail with AlreadyExistsError if the key exists (S3 `If-None-Match: *`). */
  ifNoneMatch?: boolean;
  /** Declared length; when given, a body of any other length fails and nothing is written. */
  contentLength?: number;
}

/** Inclusive byte range, as in HTTP. `end` defaults to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ReadOptions {
  range?: ByteRange;
  /** Aborting destroys the body stream and cancels the storage read. */
  signal?: AbortSignal;
}

export interface ReadResult {
  info: ObjectInfo;
  /** The whole object or the requested range; `range` says which bytes it holds. */
  body: Readable;
  range?: { start: number; end: number };
}

export interface ListOptions {
  /** At most this many items per page: default 1000, and more is clamped to 1000 (S3's MaxKeys). */
  limit?: number;
  /** The opaque `nextPageToken` of the previous page. */
  pageToken?: string;
}

export interface ListPage {
  /** Sorted by key in UTF-8 byte order, as S3 lists. */
  items: ObjectInfo[];
  /** Absent on the last page. */
  nextPageToken?: string;
}

export interface PrefixPage {
  /** Each ends with '/'; sorted as list() sorts. */
  prefixes: KeyPrefix[];
  /** Absent on the last page. */
  nextPageToken?: string;
}

export interface PresignGetOptions {
  /** Seconds until the URL stops working. */
  expiresIn: number;
  /** Overrides the Content-Type of the response (S3 `response-content-type`). */
  responseContentType?: string;
  /** Overrides the Content-Disposition of the response (S3 `response-content-disposition`). */
  responseContentDisposition?: string;
}

export interface PresignPutOptions {
  expiresIn: number;
  contentType?: string;
}

export interface UploadedPart {
  /** 1-based, as S3. */
  partNumber: number;
  /** The ETag header the part's PUT answered with (quoted or not). */
  etag: string;
}

export interface Storage {
  readonly driver: 'fs' | 's3';

  /** Metadata of one object, or null when it does not exist (missing is not a failure). */
  stat(bucket: BucketName, key: StorageKey): Promise<ObjectInfo | null>;

  /**
   * Streams an object or a byte range of it.
   * Throws NotFoundError when the key does not exist, RangeNotSatisfiableError when
   * `range.start` is at or past the end of a non-empty object, BadRequestError (invalid_range)
   * for a range that is no range (negative, fractional, or `end` before `start`), before storage
   * is asked. An `end` past the last byte is clamped, as in HTTP.
   */
  read(bucket: BucketName, key: StorageKey, options?: ReadOptions): Promise<ReadResult>;

  /**
   * Streams `body` into the key. Memory stays bounded whatever the size. The object becomes
   * visible only when complete: if `body` errors, ends short of `contentLength` or runs past it,
   * the write throws and nothing is visible (an existing object is left as it was).
   * Throws AlreadyExistsError with `ifNoneMatch` when the key exists; of N concurrent
   * create-only writes of one key exactly one succeeds.
   */
  write(bucket: BucketName, key: StorageKey, body: Readable, options?: WriteOptions): Promise<ObjectInfo>;

  /** Removes the key. Does not throw when it is already absent. */
  delete(bucket: BucketName, key: StorageKey): Promise<void>;

  /**
   * One page of the objects whose key starts with `prefix`, recursively. Throws BadRequestError
   * for a limit that is not a positive whole number, or a page token this prefix never issued.
   */
  list(bucket: BucketName, prefix: KeyPrefix, options?: ListOptions): Promise<ListPage>;

  /**
   * One page of the level below `prefix` ('' or ending in '/'), as S3 lists with a '/'
   * delimiter: the distinct `prefix + segment + '/'` that some key below starts with. Keys at
   * this level itself are not listed. So a walk of a large bucket holds one page of one level
   * at a time. Throws BadRequestError for a prefix not ending in '/', and as list() does.
   */
  listPrefixes(bucket: BucketName, prefix: KeyPrefix, options?: ListOptions): Promise<PrefixPage>;

  /**
   * A URL that GETs the object (with Range support) without credentials until it expires, then
   * answers 403. Does not check that the key exists.
   */
  presignGet(bucket: BucketName, key: StorageKey, options: PresignGetOptions): Promise<string>;

  /** A URL that PUTs the body into the key until it expires. */
  presignPut(bucket: BucketName, key: StorageKey, options: PresignPutOptions): Promise<string>;

  /**
   * Direct uploads in parts (S3 multipart): clients PUT each part straight to storage through
   * presignUploadPart URLs, then the gateway completes. Nothing is visible at `key` before
   * completeMultipartUpload resolves. Parts are at least 5 MiB except the last (S3's rule).
   */
  createMultipartUpload(bucket: BucketName, key: StorageKey): Promise<string>;
  presignUploadPart(bucket: BucketName, key: StorageKey, uploadId: string, partNumber: number, options: { expiresIn: number }): Promise<string>;
  /**
   * Assembles the parts in order. Throws BadRequestError when a part is missing or its etag does
   * not match what was uploaded; fails (NotFoundError, or StorageError on radosgw, which answers
   * 500) when the upload does not exist any more. Callers track their uploads themselves.
   */
  completeMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string, parts: UploadedPart[]): Promise<ObjectInfo>;
  /** Discards the parts. Does not throw when the upload is already gone. */
  abortMultipartUpload(bucket: BucketName, key: StorageKey, uploadId: string): Promise<void>;

  /**
   * Removes what writes cut off by a crash (SIGKILL, power loss) left where no listing shows it:
   * the fs driver's temp files; on S3 the staging objects of create-only writes and multipart
   * uploads never completed or aborted. Only what was started before `startedBefore`, so writes
   * in flight are never touched. Resolves with how many it removed and their bytes (as far as
   * storage says; S3 does not size an incomplete upload).
   */
  removeAbandonedWrites(startedBefore: Date): Promise<{ count: number; bytes: number }>;

  /** Resolves when storage answers (both buckets reachable); for /readyz. */
  ping(): Promise<void>;

  /** Releases sockets and handles. */
  close(): Promise<void>;
}
