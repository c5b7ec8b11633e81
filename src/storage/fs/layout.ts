/**
 * How the fs driver lays objects out on disk: names, the object file format, and the directory
 * walk that lists them. Under `root`:
 *
 *   <root>/<bucket>/<seg1>\/<seg2>\/…/<last segment>
 *
 * - Every key segment is its own name, unescaped: keys.ts rejects '\', so '\' is the one
 *   character reserved here. Directories get a '\' suffix and object files never contain one, so
 *   "a" (file `a`) and "a/b" (file `a\/b`) coexist and decoding is "strip the suffix". Not
 *   escaping keeps names readable and lets a 255-byte leaf segment fit a 255-byte file name; a
 *   directory segment may be 254 bytes (a longer one is refused as an invalid key on write).
 * - Temp files are `\tmp-<random>` in the target's own directory: they hold a '\' without ending
 *   in one, so they are neither objects nor directories to walk(), and rename/link stays within
 *   one directory (atomic on POSIX).
 * - An object file is a header, then the body: "AGW\x01", the body's md5 (16 bytes: the ETag),
 *   uint32 BE JSON length, JSON {contentType?, metadata?}. The header is written first with a
 *   zero md5 that is patched in before fsync, so data and metadata publish in one rename.
 * - The root must be case- and normalisation-sensitive (checkCaseSensitive): on macOS' default
 *   volumes "README" and "readme", or NFC and NFD "é", would silently overwrite each other.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BadRequestError, InvalidKeyError, StorageError } from '../../errors';
import type { StorageKey } from '../keys';

const MARK = '\\';
const TEMP_PREFIX = `${MARK}tmp-`;
const MAGIC = Buffer.from('AGW\x01', 'latin1');
const MD5_AT = MAGIC.length;
const JSON_LEN_AT = MD5_AT + 16;
const FIXED_HEADER = JSON_LEN_AT + 4;
/** S3 allows 2 KiB of metadata; the rest is room for the content type and JSON quoting. */
const MAX_HEADER_JSON = 8 * 1024;
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

export const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code;
/** Errors that mean "no such object" when opening one by path. */
export const isMissing = (err: unknown) => MISSING.has(codeOf(err) ?? '');

/** A directory below `bucketDir`, named by its key segments. */
export function dirPath(bucketDir: string, segments: string[]): string {
  return join(bucketDir, ...segments.map((s) => s + MARK));
}

/** The object file of `key` and the directory it lives in. */
export function objectPath(bucketDir: string, key: StorageKey): { dir: string; file: string } {
  // the brand says keys.ts checked the key; this keeps a forged one off the reserved character
  if (key.includes(MARK)) throw new InvalidKeyError('key contains a backslash');
  const segments = key.split('/');
  const dir = dirPath(bucketDir, segments.slice(0, -1));
  return { dir, file: join(dir, segments[segments.length - 1]) };
}

export interface Header {
  /** Quoted, as ObjectInfo.etag. */
  etag: string;
  /** Where the body starts in the file. */
  bodyAt: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** The header to write first, its md5 still zero: sealHeader() fills it in once the body is in. */
export function encodeHeader(contentType?: string, metadata?: Record<string, string>): Buffer {
  const json = Buffer.from(JSON.stringify({ contentType, metadata }));
  if (json.length > MAX_HEADER_JSON) {
    throw new BadRequestError('the content type and metadata are too large', 'metadata_too_large');
  }
  const fixed = Buffer.alloc(FIXED_HEADER);
  MAGIC.copy(fixed);
  fixed.writeUInt32BE(json.length, JSON_LEN_AT);
  return Buffer.concat([fixed, json]);
}

export function sealHeader(handle: FileHandle, md5: Buffer): Promise<void> {
  return writeAll(handle, md5, MD5_AT);
}

export async function readHeader(handle: FileHandle): Promise<Header> {
  const fixed = Buffer.alloc(FIXED_HEADER);
  const { bytesRead } = await handle.read(fixed, 0, FIXED_HEADER, 0);
  const jsonLength = fixed.readUInt32BE(JSON_LEN_AT);
  if (bytesRead < FIXED_HEADER || !fixed.subarray(0, MD5_AT).equals(MAGIC) || jsonLength > MAX_HEADER_JSON) {
    throw new StorageError('fs storage: an object file has no valid header');
  }
  const json = Buffer.alloc(jsonLength);
  if ((await handle.read(json, 0, jsonLength, FIXED_HEADER)).bytesRead < jsonLength) {
    throw new StorageError('fs storage: an object file has a truncated header');
  }
  const fields = JSON.parse(json.toString('utf8')) as Pick<Header, 'contentType' | 'metadata'>;
  return {
    ...fields,
    etag: `"${fixed.subarray(MD5_AT, JSON_LEN_AT).toString('hex')}"`,
    bodyAt: FIXED_HEADER + jsonLength,
  };
}

/**
 * The keys below `dir` (whose keys all start with `keyBase`) that continue with `namePrefix` and
 * sort after `after`, in UTF-8 byte order, reading only the directories the page needs.
 */
export async function* walk(dir: string, keyBase: string, namePrefix: string, after?: Buffer): AsyncGenerator<StorageKey> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return; // nothing there, or pruned while we looked
    throw err;
  }
  const children: { name: string; sortKey: Buffer; isDir: boolean }[] = [];
  for (const e of entries) {
    const mark = e.name.indexOf(MARK);
    const isDir = e.isDirectory() && mark === e.name.length - 1;
    // temp files hold the mark without ending in it; U+FFFD stands for a non-UTF-8 name, not ours
    if (!(isDir || (e.isFile() && mark === -1)) || e.name.includes('\uFFFD')) continue;
    const segment = isDir ? e.name.slice(0, -1) : e.name;
    if (!segment.startsWith(namePrefix)) continue;
    // a directory sorts as "segment/": every key below it starts so, so sorting the siblings this
    // way and descending in order yields the whole subtree in byte order
    children.push({ name: e.name, sortKey: Buffer.from(keyBase + segment + (isDir ? '/' : '')), isDir });
  }
  children.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const c of children) {
    const later = !after || Buffer.compare(c.sortKey, after) > 0;
    if (!c.isDir) {
      if (later) yield c.sortKey.toString() as StorageKey;
    } else if (later || after.subarray(0, c.sortKey.length).equals(c.sortKey)) {
      yield* walk(join(dir, c.name), c.sortKey.toString(), '', after);
    }
  }
}

/** The key segments of the directories right in `dir`; none when it does not exist. */
export async function subdirectories(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  return entries.filter((e) => e.isDirectory() && e.name.indexOf(MARK) === e.name.length - 1 && !e.name.includes('\uFFFD')).map((e) => e.name.slice(0, -1));
}

/** Every temp file below `dir`, at any depth; directories that vanish meanwhile are skipped. */
export async function* tempFiles(dir: string): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  for (const e of entries) {
    if (e.isFile() && e.name.startsWith(TEMP_PREFIX)) yield join(dir, e.name);
    else if (e.isDirectory() && e.name.endsWith(MARK)) yield* tempFiles(join(dir, e.name));
  }
}

export async function createTemp(dir: string): Promise<{ tmp: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt++) {
    const tmp = join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
    try {
      await fsp.mkdir(dir, { recursive: true });
      return { tmp, handle: await fsp.open(tmp, 'wx', 0o644) };
    } catch (err) {
      // a concurrent delete() pruned the directory between mkdir and open: make it again
      if (codeOf(err) !== 'ENOENT' || attempt === 5) throw err;
    }
  }
}

export async function writeAll(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    done += (await handle.write(buf, done, buf.length - done, position + done)).bytesWritten;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function exists(path: string): Promise<boolean> {
  return fsp.lstat(path).then(
    () => true,
    (err: unknown) => {
      if (isMissing(err)) return false;
      throw err;
    },
  );
}

/** Refuses a root where two distinct keys could name one file. */
export async function checkCaseSensitive(root: string): Promise<void> {
  const probe = join(root, `${TEMP_PREFIX}probe-${randomBytes(4).toString('hex')}-`);
  await (await fsp.open(`${probe}a\u00e9`, 'wx')).close();
  try {
    if ((await exists(`${probe}A\u00e9`)) || (await exists(`${probe}ae\u0301`))) {
      throw new StorageError('fs storage: the root is on a case- or normalisation-insensitive filesystem, where distinct keys ' + 'would overwrite each other');
    }
  } finally {
    await fsp.unlink(`${probe}a\u00e9`).catch(() => {});
  }
}
