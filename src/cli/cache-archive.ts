/**
 * Cache archives: a gzip-compressed tar of paths relative to one directory (the root), written
 * to a temp file so that its length and sha256 are known before it is sent, and extracted only
 * after its sha256 matched and every entry passed the rules in cache-archive-rules.ts.
 *
 * tar is node-tar (npm's own); compression is node:zlib, outside tar, so the format is ours to
 * check (gzip magic) and another codec (zstd, in node:zlib from Node 22.15) can be added by magic
 * number later. Nothing holds a whole file or tree in memory: the tree streams into the archive
 * file, and the archive file streams into the tree.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { Pack, Parser, Unpack, type ReadEntry } from 'tar';
import { ArchiveRefused, ArchiveRules, linkProblem, SKIPPED_TYPES, type Inspected } from './cache-archive-rules';

export { ArchiveRefused, type Inspected } from './cache-archive-rules';

export interface Collected {
  /** Every path to archive, parents before children, '/'-separated, relative to the root. */
  entries: string[];
  files: number;
  /** Bytes of file content. */
  bytes: number;
  /** Left out, with why: links leaving the root, sockets, FIFOs, devices, vanished files. */
  skipped: string[];
}

/**
 * Lists what `paths` (relative to `root`, '' for all of it) hold, without following links: a
 * link is archived as a link, unless it points outside the root (the restore would refuse it).
 */
export async function collectEntries(root: string, paths: readonly string[]): Promise<Collected> {
  const c: Collected = { entries: [], files: 0, bytes: 0, skipped: [] };
  const visit = async (rel: string, st: Awaited<ReturnType<typeof lstat>> | undefined): Promise<void> => {
    if (st === undefined) {
      c.skipped.push(`${rel}: vanished while it was being listed`);
    } else if (st.isDirectory()) {
      c.entries.push(rel);
      await children(rel);
    } else if (st.isFile()) {
      c.entries.push(rel);
      c.files++;
      c.bytes += Number(st.size);
    } else if (st.isSymbolicLink()) {
      const problem = linkProblem(rel, await readlink(join(root, rel)));
      if (problem) c.skipped.push(`${rel}: ${problem}`);
      else c.entries.push(rel);
    } else {
      c.skipped.push(`${rel}: ${st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}, which a cache does not hold`);
    }
  };
  const children = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    const paths = names.map((name) => (rel === '' ? name : `${rel}/${name}`));
    const stats = await Promise.all(paths.map((p) => statOrUndefined(join(root, p))));
    for (let i = 0; i < paths.length; i++) await visit(paths[i]!, stats[i]);
  };
  for (const p of paths) {
    if (p === '') await children('');
    else await visit(p, await statOrUndefined(join(root, p)));
  }
  return c;
}

export interface Created {
  size: number;
  sha256: string;
}

/**
 * Writes `entries` (from collectEntries) as a .tar.gz to `file`, which must not exist.
 * `onProgress` gets the uncompressed bytes written so far. Links stay links, modes and mtimes
 * are kept, and a file linked twice within the tree is stored once plus a hard link.
 */
export async function createArchive(root: string, entries: readonly string[], file: string, onProgress?: (tarBytes: number) => void): Promise<Created> {
  // strict: a file that vanishes or cannot be read fails the save rather than leaving a hole
  const pack = new Pack({ cwd: root, noDirRecurse: true, follow: false, strict: true });
  let tarBytes = 0;
  let size = 0;
  const hash = createHash('sha256');
  const done = pipeline(
    pack as unknown as Readable,
    tap((n) => onProgress?.((tarBytes += n))),
    createGzip(),
    tap((n, chunk) => {
      size += n;
      hash.update(chunk);
    }),
    createWriteStream(file, { flags: 'wx', mode: 0o600 }),
  );
  // add(), not tar.c([...]): c() reads a name starting with '@' as another archive to include
  for (const e of entries) pack.add(e);
  pack.end();
  await done;
  return { size, sha256: hash.digest('hex') };
}

export type Phase = 'verify' | 'check' | 'extract';

export interface ExtractOptions {
  /** The directory the archive's paths are relative to. */
  root: string;
  /** Restore paths: no entry may lie outside them. */
  paths: readonly string[];
  /** The sha256 the gateway recorded when the entry was saved. */
  sha256: string;
  /** A phase starts; each reads the whole archive file. */
  onPhase?(phase: Phase): void;
  /** Archive bytes read in the current phase. */
  onBytes?(delta: number): void;
}

/**
 * Extracts a cache archive into `root`, in three passes over the file: (1) its sha256 must be
 * the recorded one; (2) every entry must pass the rules (no absolute or '..' paths, nothing
 * outside the restore paths, no link leaving the root, no write through a link, hard links only
 * to files earlier in the archive); (3) only then is anything written. A refused archive throws
 * ArchiveRefused and has written nothing.
 */
export async function extractArchive(file: string, options: ExtractOptions): Promise<Inspected> {
  options.onPhase?.('verify');
  const actual = await sha256File(file, options.onBytes);
  if (actual !== options.sha256) {
    throw new ArchiveRefused(`the archive's sha256 is ${actual}, but the gateway recorded ${options.sha256} for this entry`);
  }
  await checkMagic(file);

  options.onPhase?.('check');
  const rules = new ArchiveRules(options.paths);
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry) => {
      rules.check(entry);
      entry.resume(); // a bare Parser waits for each entry's body to be read
    },
  });
  await readTar(file, parser, options.onBytes);
  const inspected = rules.result();
  await rules.checkTarget(options.root);

  options.onPhase?.('extract');
  const unpack = new Unpack({
    cwd: options.root,
    strict: true,
    // never: archive owners are the saver's, not ours, even when restoring as root
    preserveOwner: false,
    // replace files instead of writing into them: a file on disk that is a hard link to something
    // outside the target, or a link where a directory is expected, is replaced, not written through
    unlink: true,
    filter: (_path, entry) => !SKIPPED_TYPES.has((entry as ReadEntry).type),
    onReadEntry: (entry) => {
      // set-user-ID, set-group-ID and sticky bits are never restored: a cache has no use for them
      if (typeof entry.mode === 'number') entry.mode &= 0o777;
    },
  });
  await readTar(file, unpack, options.onBytes);
  return inspected;
}

async function sha256File(file: string, onBytes?: (delta: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

async function checkMagic(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    if (bytesRead < 2 || head[0] !== 0x1f || head[1] !== 0x8b) throw new ArchiveRefused('the archive is not a gzip-compressed tar');
  } finally {
    await handle.close();
  }
}

/** Streams the file, decompressed, into a tar Parser or Unpack, and waits for it to finish. */
function readTar(file: string, sink: Parser, onBytes?: (delta: number) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(err instanceof ArchiveRefused || sink instanceof Unpack ? err : new ArchiveRefused(`the archive is damaged: ${err.message}`));
    };
    const source = createReadStream(file);
    const gunzip = createGunzip();
    source.on('error', fail);
    gunzip.on('error', (err) => fail(new ArchiveRefused(`the archive is damaged: ${err.message}`)));
    sink.on('error', fail);
    sink.on('close', () => {
      if (!failed) resolve();
    });
    source.pipe(tap((n) => onBytes?.(n))).pipe(gunzip);
    gunzip.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

function tap(fn: (n: number, chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fn(chunk.length, chunk);
      cb(null, chunk);
    },
  });
}

async function statOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
