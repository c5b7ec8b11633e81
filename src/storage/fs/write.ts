/**
 * The fs driver's write(): the body streams into a temp file beside the target, counted and
 * hashed, is fsynced, then published by rename (or link, which refuses an existing name, for
 * create-only writes), and the directory is fsynced. Any failure removes the temp file; nothing
 * partial is visible.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, BadRequestError, InvalidKeyError } from '../../errors';
import type { StorageKey } from '../keys';
import type { ObjectInfo, WriteOptions } from '../storage';
import { fsError } from './errors';
import { codeOf, createTemp, encodeHeader, exists, sealHeader, syncDir, writeAll } from './layout';

const LENGTH_MISMATCH = 'length_mismatch';

/** `ready` creates the root and buckets on first use. */
export async function writeObject(
  { dir, file }: { dir: string; file: string },
  key: StorageKey,
  body: Readable,
  options: WriteOptions,
  ready: () => Promise<void>,
): Promise<ObjectInfo> {
  const declared = options.contentLength;
  let tmp: string | undefined;
  let handle: FileHandle | undefined;
  let bodyError: unknown;
  // Stops reading on failure without destroying the body: it is the caller's, and destroying an
  // HTTP request would cut the socket before the caller could answer 412 or 500.
  const chunks = body.iterator({ destroyOnReturn: false });
  try {
    const { contentType, metadata } = options;
    const header = encodeHeader(contentType, metadata);
    await ready();
    // cheap refusal before a byte of a possibly large body is read
    if (options.ifNoneMatch && (await exists(file))) throw new AlreadyExistsError('the key already exists');
    ({ tmp, handle } = await createTemp(dir));
    await writeAll(handle, header, 0);

    const md5 = createHash('md5');
    let size = 0;
    for (;;) {
      const next = await chunks.next().catch((err: unknown) => {
        bodyError = err;
        throw err;
      });
      if (next.done) break;
      const chunk: Buffer = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as string);
      if (declared !== undefined && size + chunk.length > declared) {
        throw new BadRequestError(`the body is longer than ${declared} bytes`, LENGTH_MISMATCH);
      }
      md5.update(chunk);
      await writeAll(handle, chunk, header.length + size);
      size += chunk.length;
    }
    if (declared !== undefined && size !== declared) {
      throw new BadRequestError(`the body ended after ${size} of ${declared} bytes`, LENGTH_MISMATCH);
    }
    const digest = md5.digest();
    await sealHeader(handle, digest);
    await handle.sync();
    const { mtimeMs } = await handle.stat();
    await handle.close();
    handle = undefined;
    if (options.ifNoneMatch) {
      // link() fails if the name exists where rename() would replace it: of N racing creators,
      // exactly one wins
      await fsp.link(tmp, file).catch((err: unknown) => {
        throw codeOf(err) === 'EEXIST' ? new AlreadyExistsError('the key already exists') : err;
      });
      await fsp.unlink(tmp);
    } else {
      await fsp.rename(tmp, file);
    }
    tmp = undefined;
    await syncDir(dir);
    const etag = `"${digest.toString('hex')}"`;
    const info: ObjectInfo = { key, size, etag, lastModified: new Date(mtimeMs) };
    if (contentType !== undefined) info.contentType = contentType;
    if (metadata !== undefined) info.metadata = { ...metadata };
    return info;
  } catch (err) {
    await chunks.return?.();
    await handle?.close().catch(() => {});
    if (tmp) await fsp.unlink(tmp).catch(() => {});
    // the body's own failure (a client that went away) is not a storage failure: pass it on
    if (err === bodyError) throw err;
    if (codeOf(err) === 'ENAMETOOLONG') {
      throw new InvalidKeyError('a directory segment of the key is over 254 bytes, the fs driver limit');
    }
    throw fsError(err, 'write');
  }
}
