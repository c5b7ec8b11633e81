/**
 * The commit pattern artifacts and caches share: bytes go to a fresh object first (streamed,
 * sha256 computed on the way), then a small JSON entry that names them is created create-only.
 * The entry is the commit point: a reader never sees bytes that are not complete, and the first
 * entry written for a name wins.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AlreadyExistsError, NotFoundError, StorageError } from './errors';
import type { StorageKey } from './storage/keys';
import type { BucketName, Storage } from './storage/storage';

const ENTRY_MAX_BYTES = 64 * 1024;

/** Streams `body` into `key`, hashing it; resolves with what was stored. */
export async function writeHashed(
  storage: Storage,
  bucket: BucketName,
  key: StorageKey,
  body: Readable,
  options: { contentLength?: number; contentType?: string },
): Promise<{ size: number; sha256: string }> {
  // a client that hung up before its body was read (during auth or the checks before the write)
  // left a destroyed request that will never end or fail: waiting for it would hang the write
  // forever, holding the driver's temp file (fs) or its upload (s3)
  if (body.destroyed) {
    throw Object.assign(new Error('the client closed the connection before its body was read'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  }
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  body.on('error', (err) => hashing.destroy(err));
  // the driver learns of a failed body by reading `hashing`, but may not have started yet (fs:
  // while it creates its temp file); an 'error' with no listener then would crash the process
  hashing.on('error', () => undefined);
  const info = await storage.write(bucket, key, body.pipe(hashing), options);
  return { size: info.size, sha256: hash.digest('hex') };
}

/** sha256 of a stored object, streamed (memory stays flat whatever its size). */
export async function hashObject(storage: Storage, bucket: BucketName, key: StorageKey): Promise<{ size: number; sha256: string }> {
  const { body } = await storage.read(bucket, key);
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Creates the entry; false when another one already exists (the caller decides what that means).
 * When the store already holds exactly these bytes, the write was ours: S3 stored it, its answer
 * was lost on the way back, and the SDK's retry met our own object (412). That is a success, not
 * a lost race; taken for one, callers deleted the bytes their committed entry points to. Entries
 * name a fresh object and a time, so no other writer makes the same bytes by chance.
 */
export async function createEntry(storage: Storage, bucket: BucketName, key: StorageKey, value: unknown): Promise<boolean> {
  const bytes = Buffer.from(JSON.stringify(value));
  try {
    await storage.write(bucket, key, Readable.from([bytes]), { ifNoneMatch: true, contentType: 'application/json' });
    return true;
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
  const existing = await readBytes(storage, bucket, key);
  return existing !== null && existing.equals(bytes);
}

async function readBytes(storage: Storage, bucket: BucketName, key: StorageKey): Promise<Buffer | null> {
  let read;
  try {
    read = await storage.read(bucket, key);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
  if (read.info.size > ENTRY_MAX_BYTES) {
    read.body.destroy();
    throw new StorageError(`index object ${key} is implausibly large`);
  }
  return buffer(read.body);
}

/** Writes (or replaces) a small JSON object. */
export async function putJson(storage: Storage, bucket: BucketName, key: StorageKey, value: unknown): Promise<void> {
  await storage.write(bucket, key, Readable.from([Buffer.from(JSON.stringify(value))]), { contentType: 'application/json' });
}

/** The entry at `key`, or null when there is none. */
export async function readEntry<T>(storage: Storage, bucket: BucketName, key: StorageKey): Promise<T | null> {
  const bytes = await readBytes(storage, bucket, key);
  return bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as T);
}
