/**
 * Writing a cache archive: a gzip-compressed tar of paths relative to one directory (the root),
 * written to a temp file so that its length and sha256 are known before it is sent. Nothing holds
 * a whole file or tree in memory: the tree streams into the archive file.
 *
 * tar is node-tar (npm's own); compression is node:zlib, outside tar, so the format is ours to
 * check (gzip magic) and another codec (zstd, in node:zlib from Node 22.15) can be added by magic
 * number later.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Pack } from 'tar';
import { lengthProblem, linkProblem } from './rules';
import { tap } from './tar-stream';

/** A path `cache save` cannot store: the restore could not write it either. */
export class CannotArchive extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CannotArchive';
  }
}

export interface CollectedEntries {
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
export async function collectEntries(root: string, paths: readonly string[]): Promise<CollectedEntries> {
  const c: CollectedEntries = { entries: [], files: 0, bytes: 0, skipped: [] };
  const rootBytes = Buffer.byteLength(root) + 1;
  // checked before the path is read: past the limits, reading it fails with ENAMETOOLONG
  const checkLength = (rel: string) => {
    const problem = lengthProblem(rel, rootBytes);
    if (problem) throw new CannotArchive(`cannot cache ${JSON.stringify(rel)}: ${problem}; nothing was saved`);
  };
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
    for (const p of paths) checkLength(p);
    const stats = await Promise.all(paths.map((p) => statOrUndefined(join(root, p))));
    for (let i = 0; i < paths.length; i++) await visit(paths[i], stats[i]);
  };
  for (const p of paths) {
    if (p === '') await children('');
    else {
      checkLength(p);
      await visit(p, await statOrUndefined(join(root, p)));
    }
  }
  return c;
}

export interface Created {
  size: number;
  sha256: string;
  /** Bytes of the uncompressed tar: what the archive expands to. */
  expandedSize: number;
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
    tap((n) => {
      tarBytes += n;
      onProgress?.(tarBytes);
    }),
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
  return { size, sha256: hash.digest('hex'), expandedSize: tarBytes };
}

async function statOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
