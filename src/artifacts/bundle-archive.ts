/**
 * Reading a bundle upload: a tar stream whose files become artifacts of one build. Each file is
 * checked before a byte of it is stored (path rules, type, sizes, count), streamed into a fresh
 * object, and handed to the bundle's publication, which writes its (still invisible) entry
 * (bundle-publish.ts). A few files are written at once: small ones are read into memory (at most
 * SMALL_FILE_BYTES each) so the archive moves on while they are written; a larger one is
 * streamed, and the archive waits for it. Memory stays bounded by IN_FLIGHT x SMALL_FILE_BYTES
 * plus the stream buffers, whatever the archive holds.
 *
 * What a bundle may hold: regular files and directories, with relative paths that are valid
 * artifact paths ('./' in front is dropped); no path twice, no path both a file and a directory.
 * Links, devices, FIFOs and anything else refuse the whole bundle: a bundle is files, and a link
 * would mean something else in every place it is read back.
 *
 * On any failure the promise rejects once no write is in flight any more; the publication owns
 * every object and entry written, and its abort() removes them. Nothing was ever visible.
 */
import { createHash } from 'node:crypto';
import { finished, Readable, Transform } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { BadRequestError, PayloadTooLargeError } from '../errors';
import { contentTypeFor } from '../content-policy';
import { toStorageKey, type StorageKey } from '../storage/keys';
import type { BundlePublication } from './bundle-publish';

export const SMALL_FILE_BYTES = 64 * 1024;
/** Files being stored at once, each an object then an entry. */
export const IN_FLIGHT = 16;

const FILE_TYPES: ReadonlySet<string> = new Set(['File', 'OldFile', 'ContiguousFile']);

export interface BundleLimits {
  maxFiles: number;
  /** Per file (ARTIFACT_MAX_BYTES). */
  maxFileBytes: number;
}

export interface ReceivedBundle {
  files: number;
  /** Bytes of file content. */
  bytes: number;
  /** sha256 of the archive as received: the client compares it with what it sent. */
  sha256: string;
}

/** The client went away before its whole archive arrived. */
export class BundleCut extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleCut';
  }
}

/** Reads the tar `body` (`length` bytes) into `bundle`: each file staged, then added. */
export function receiveBundle(bundle: Pick<BundlePublication, 'stage' | 'add'>, body: Readable, length: number, limits: BundleLimits): Promise<ReceivedBundle> {
  return new Promise<ReceivedBundle>((resolve, reject) => {
    let files = 0;
    const dirs = new Set<string>();
    const paths = new Set<string>();
    const writes = new Set<Promise<void>>();
    const streaming = new Set<Readable>();
    const archiveHash = createHash('sha256');
    let received = 0;
    let tail = Buffer.alloc(0); // the last block: an archive ends with zero blocks
    let bytes = 0;
    let failure: Error | undefined;
    let chain = Promise.resolve();
    let settled = false;
    let stop = () => undefined as void;
    const stopped = new Promise<undefined>((r) => (stop = () => r(undefined)));

    const settle = async () => {
      if (settled) return;
      settled = true;
      await chain;
      while (writes.size > 0) await Promise.allSettled([...writes]);
      if (failure) reject(failure);
      else resolve({ files, bytes, sha256: archiveHash.digest('hex') });
    };
    const fail = (err: Error) => {
      if (failure) return;
      failure = err;
      stop();
      body.unpipe(counter);
      counter.unpipe(parser);
      parser.abort(new Error('stopped'));
      for (const s of streaming) s.destroy(err);
      void settle();
    };

    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        // node-tar would gunzip on its own; the end-of-archive check needs the tar itself
        if (received === 0 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
          fail(new BadRequestError('the body is a gzip-compressed archive; a bundle is an uncompressed tar'));
          return cb();
        }
        received += chunk.length;
        archiveHash.update(chunk);
        tail = chunk.length >= 512 ? Buffer.from(chunk.subarray(-512)) : Buffer.concat([tail, chunk]).subarray(-512);
        cb(null, chunk);
      },
    });
    const parser = new Parser({ strict: true });
    parser.on('error', (err: Error) => fail(new BadRequestError(`the body is not a valid tar archive: ${err.message.replace(/^TAR_\w+: /, '')}`)));
    parser.on('ignoredEntry', (e: ReadEntry) =>
      fail(new BadRequestError(`${JSON.stringify(e.path)} is ${describe(e.type)}; a bundle holds only files and directories`)),
    );
    parser.on('entry', (entry: ReadEntry) => {
      chain = chain.then(() => take(entry)).catch((err: Error) => fail(err));
    });
    parser.on('end', () => {
      if (failure) return;
      if (received !== length) fail(new BundleCut(`the archive ended after ${received} of ${length} bytes`));
      else if (received % 512 !== 0 || tail.length < 512 || tail.some((b) => b !== 0)) {
        // node-tar ends quietly on a partial header: the end-of-archive blocks are the proof that nothing is missing
        fail(new BadRequestError('the tar archive is truncated: it does not end with the end-of-archive blocks'));
      } else if (paths.size === 0) fail(new BadRequestError('the bundle holds no files'));
      else void settle();
    });
    finished(body, (err) => {
      if (err && !failure) fail(new BundleCut(`the client closed the connection after ${received} of ${length} bytes`));
    });

    const take = async (entry: ReadEntry): Promise<void> => {
      if (failure) {
        entry.resume();
        return;
      }
      const { path, isDir } = check(entry);
      if (isDir) {
        entry.resume();
        return;
      }
      if (paths.size > limits.maxFiles) throw new PayloadTooLargeError(`the bundle holds more than ${limits.maxFiles} files, the most one bundle may hold`);
      const size = entry.size;
      if (size > limits.maxFileBytes) {
        throw new PayloadTooLargeError(`${path} is ${size} bytes, over the ${limits.maxFileBytes}-byte artifact limit`);
      }
      bytes += size;
      while (writes.size >= IN_FLIGHT) await Promise.race(writes);
      if (failure) {
        entry.resume();
        return;
      }
      let source: Readable;
      if (size <= SMALL_FILE_BYTES) {
        // an archive cut mid-file never ends the entry: stop waiting for it when the bundle fails
        const content = await Promise.race([entry.concat(), stopped]);
        if (content === undefined) return;
        source = Readable.from([content]);
      } else {
        source = Readable.from(entry as AsyncIterable<Buffer>);
        streaming.add(source);
      }
      const write = bundle
        .stage(source, size)
        .then(async (s) => {
          if (s.size !== size) throw new BundleCut(`${path} ended after ${s.size} of its ${size} bytes`);
          await bundle.add({ path, object: s.object, size, sha256: s.sha256, contentType: contentTypeFor(path) });
          files++;
        })
        .catch((err: Error) => fail(err))
        .finally(() => {
          streaming.delete(source);
          writes.delete(write);
        });
      writes.add(write);
    };

    /** The entry's path as an artifact path, refusing what a bundle may not hold. */
    const check = (entry: ReadEntry): { path: StorageKey; isDir: boolean } => {
      const shown = JSON.stringify(entry.path);
      const isDir = entry.type === 'Directory';
      if (!isDir && !FILE_TYPES.has(entry.type)) throw new BadRequestError(`${shown} is ${describe(entry.type)}; a bundle holds only files and directories`);
      let raw = entry.path.replace(/^(\.\/)+/, '');
      if (isDir) raw = raw.replace(/\/+$/, '');
      if (raw.startsWith('/') || /^[a-z]:/i.test(raw)) throw new BadRequestError(`${shown} is an absolute path; paths in a bundle are relative to the build`);
      if (raw.split(/[/\\]/).includes('..')) throw new BadRequestError(`${shown} climbs out with '..'; paths in a bundle stay inside the build`);
      if (isDir && raw === '') return { path: '' as StorageKey, isDir };
      const path = toStorageKey(raw, `bundle path ${shown}`);
      for (const dir of ancestorsOf(path)) {
        if (paths.has(dir)) throw new BadRequestError(`${dir} is a file in the bundle and also a directory (of ${path}); a path cannot be both`);
        dirs.add(dir);
      }
      if (isDir) {
        if (paths.has(path)) throw new BadRequestError(`${path} is a file in the bundle and also a directory; a path cannot be both`);
        dirs.add(path);
      } else {
        if (paths.has(path)) throw new BadRequestError(`${path} is in the bundle twice`);
        if (dirs.has(path)) throw new BadRequestError(`${path} is a directory in the bundle and also a file; a path cannot be both`);
        paths.add(path);
      }
      return { path, isDir };
    };

    body.pipe(counter).pipe(parser);
  });
}

function ancestorsOf(path: string): string[] {
  const segments = path.split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}

function describe(type: string): string {
  switch (type) {
    case 'SymbolicLink':
      return 'a symbolic link';
    case 'Link':
      return 'a hard link';
    case 'CharacterDevice':
    case 'BlockDevice':
      return 'a device';
    case 'FIFO':
      return 'a FIFO';
    default:
      return `of tar type ${type}`;
  }
}
