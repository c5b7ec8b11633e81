/**
 * Cache archives: a gzip-compressed tar of paths relative to one directory (the root), written
 * to a temp file so that its length and sha256 are known before it is sent, and extracted only
 * after its sha256 matched and every entry passed the rules in cache-archive-rules.ts. Extraction
 * goes to a staging directory in the root (same file system), and only a complete, verified tree
 * is moved into place, so that a failed restore leaves the target as it was.
 *
 * tar is node-tar (npm's own); compression is node:zlib, outside tar, so the format is ours to
 * check (gzip magic) and another codec (zstd, in node:zlib from Node 22.15) can be added by magic
 * number later. Nothing holds a whole file or tree in memory: the tree streams into the archive
 * file, and the archive file streams into the tree.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, writeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, statfs, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { Pack, Parser, Unpack, type ReadEntry } from 'tar';
import { ArchiveRefused, ArchiveRules, lengthProblem, linkProblem, normalise, type Inspected } from './cache-archive-rules';
import { Reservations } from './cache-reservations';
import { formatBytes } from './cache-progress';

export { ArchiveRefused, type Inspected } from './cache-archive-rules';

/** A path `cache save` cannot store: the restore could not write it either. */
export class CannotArchive extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CannotArchive';
  }
}

/**
 * Extraction failed after every check had passed (a disk or permission problem). `unchanged`:
 * the target is as it was; otherwise the message says what was left where.
 */
export class ExtractFailed extends Error {
  constructor(
    message: string,
    readonly unchanged: boolean,
  ) {
    super(message);
    this.name = 'ExtractFailed';
  }
}

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
    for (let i = 0; i < paths.length; i++) await visit(paths[i]!, stats[i]);
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

export type Phase = 'verify' | 'check' | 'extract';

/** --max-expanded-size when not given: 10 GiB. */
export const DEFAULT_MAX_EXPANDED_SIZE = 10 * 1024 ** 3;
/** mkdtemp's name for the staging directory: the prefix and six random characters. */
const STAGING_PREFIX = '.agw-restore-';
const STAGING_NAME_BYTES = STAGING_PREFIX.length + 6;
const TREE = 'tree';

export interface ExtractOptions {
  /** The directory the archive's paths are relative to. */
  root: string;
  /** Restore paths: no entry may lie outside them. */
  paths: readonly string[];
  /** The sha256 the gateway recorded when the entry was saved. */
  sha256: string;
  /** The uncompressed tar size recorded when the entry was saved; entries saved before it was recorded have none. */
  expandedSize?: number;
  /** The most the archive may expand to (default DEFAULT_MAX_EXPANDED_SIZE). */
  maxExpandedSize?: number;
  /** A phase starts; each reads the whole archive file. */
  onPhase?(phase: Phase): void;
  /** Archive bytes read in the current phase. */
  onBytes?(delta: number): void;
}

/** The bytes an unprivileged process may still write on the file system of `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const st = await statfs(dir);
  return st.bavail * st.bsize;
}

/** Refuses an expanded size over the limit or over the free space; before anything is read or written. */
export function checkExpandedSize(expanded: number, limit: number, free?: number, what = 'recorded when it was saved'): void {
  if (expanded > limit) {
    throw new ArchiveRefused(`the archive expands to ${formatBytes(expanded)} (${expanded} bytes, ${what}), over the --max-expanded-size limit of ${formatBytes(limit)} (${limit} bytes)`);
  }
  if (free !== undefined && expanded > free) {
    throw new ArchiveRefused(`the archive expands to ${formatBytes(expanded)} (${expanded} bytes, ${what}), more than the ${formatBytes(free)} free on the target's file system`);
  }
}

/**
 * Extracts a cache archive into `root`: (1) its sha256 must be the recorded one; (2) every entry
 * must pass the rules (no absolute or '..' paths, nothing outside the restore paths, no link
 * leaving the root, no write through a link, hard links only to files earlier in the archive,
 * only files, directories and links, names and paths the system can hold), and the archive must
 * expand to no more than it did when saved, the limit and the free space; (3) only then is it
 * extracted, into a staging directory in the root, bytes counted again; (4) the staged tree is
 * moved into place entry by entry (a rename each: a directory the target lacks moves whole), and
 * should a move fail, the moves made are taken back. A refused archive throws ArchiveRefused, a
 * failed extraction ExtractFailed; either way the target is as it was, unless ExtractFailed says
 * otherwise (unchanged false, and what is where in its message).
 */
export async function extractArchive(file: string, options: ExtractOptions): Promise<Inspected> {
  const { root } = options;
  const limit = options.maxExpandedSize ?? DEFAULT_MAX_EXPANDED_SIZE;
  const fsInfo = await statfs(root);
  const free = fsInfo.bavail * fsInfo.bsize;
  if (options.expandedSize !== undefined) checkExpandedSize(options.expandedSize, limit, free);

  options.onPhase?.('verify');
  const actual = await sha256File(file, options.onBytes);
  if (actual !== options.sha256) {
    throw new ArchiveRefused(`the archive's sha256 is ${actual}, but the gateway recorded ${options.sha256} for this entry`);
  }
  await checkMagic(file);

  options.onPhase?.('check');
  // staged paths are the longest: root/.agw-restore-XXXXXX/tree/path
  const prefixBytes = Buffer.byteLength(root) + 1 + STAGING_NAME_BYTES + 1 + TREE.length + 1;
  const rules = new ArchiveRules(options.paths, { prefixBytes, blockSize: fsInfo.bsize });
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry) => {
      rules.check(entry);
      entry.resume(); // a bare Parser waits for each entry's body to be read
    },
  });
  // what node-tar's parser drops without a word: sparse files, volume headers, unknown types…
  parser.on('ignoredEntry', (entry: ReadEntry) => rules.ignored(entry));
  const recorded = options.expandedSize;
  const tarBytes = await readTar(file, parser, {
    onBytes: options.onBytes,
    max: Math.min(limit, recorded ?? Infinity),
    // stops the pass there: a decompression bomb is never read to its end
    tooBig: (n) =>
      recorded !== undefined
        ? `the archive expands past ${formatBytes(recorded)} (${recorded} bytes), the size recorded when it was saved: it is not the archive that was saved`
        : `the archive expands past the --max-expanded-size limit of ${formatBytes(limit)} (${limit} bytes; ${n} bytes read so far)`,
  });
  const inspected = rules.result();
  await rules.checkTarget(root);
  checkExpandedSize(tarBytes, limit, undefined, 'counted');
  if (inspected.diskBytes > free) {
    throw new ArchiveRefused(
      `the archive needs about ${formatBytes(inspected.diskBytes)} on disk (${inspected.files} files and ${inspected.directories} directories), more than the ${formatBytes(free)} free on the target's file system`,
    );
  }

  options.onPhase?.('extract');
  const staging = await mkdtemp(join(root, STAGING_PREFIX));
  const tree = join(staging, TREE);
  try {
    await mkdir(tree);
    await unpackInto(file, tree, staging, tarBytes, options.onBytes);
  } catch (err) {
    await removeStaging(staging);
    if (err instanceof ArchiveRefused) throw err;
    throw new ExtractFailed(`extracting failed, nothing was restored: ${(err as Error).message}`, true);
  }
  const moved = await moveIntoPlace(tree, root, staging);
  if (moved) await removeStaging(staging);
  return inspected;
}

/**
 * Unpacks the (checked) archive into `tree`. Symbolic links are set aside in a file and made
 * last: node-tar refuses a link whose target passes through another link (pnpm's and
 * workspaces' `l2 -> l1 -> real`), and once every file is written no entry can go through one.
 */
async function unpackInto(file: string, tree: string, staging: string, tarBytes: number, onBytes?: (delta: number) => void): Promise<void> {
  const linksFile = join(staging, 'links');
  const links = createWriteStream(linksFile, { flags: 'wx', mode: 0o600 });
  const linksWritten = new Promise<void>((resolve, reject) => {
    links.on('finish', resolve);
    links.on('error', reject);
  });
  const unpack = new Unpack({
    cwd: tree,
    strict: true,
    // never: archive owners are the saver's, not ours, even when restoring as root
    preserveOwner: false,
    // the staging tree is new: nothing there to replace; kept as a second line
    unlink: true,
    filter: (_path, entry) => {
      const e = entry as ReadEntry;
      if (e.type !== 'SymbolicLink') return true;
      links.write(`${JSON.stringify([normalise(e.path), e.linkpath])}\n`);
      return false;
    },
    onReadEntry: (entry) => {
      // set-user-ID, set-group-ID and sticky bits are never restored: a cache has no use for them
      if (typeof entry.mode === 'number') entry.mode &= 0o777;
    },
  });
  // node-tar's own reservations keep every entry until the end (see cache-reservations.ts)
  unpack.reservations = new Reservations() as unknown as Unpack['reservations'];
  try {
    // the archive is our own temp file, checked a moment ago: more bytes now means it changed
    await readTar(file, unpack, { onBytes, max: tarBytes, tooBig: () => 'the archive changed while it was being restored' });
  } finally {
    links.end();
    await linksWritten;
  }
  const lines = createInterface({ input: createReadStream(linksFile), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const [path, target] = JSON.parse(line) as [string, string];
    const at = resolve(tree, path);
    // the rules refused anything else; a second line, as node-tar's checks are for other entries
    if (!at.startsWith(`${tree}/`)) throw new ArchiveRefused(`${JSON.stringify(path)}: a link outside the directory`);
    await mkdir(dirname(at), { recursive: true });
    await symlink(target, at);
  }
}

type JournalLine = ['new', string] | ['replaced', string, string];

/**
 * Moves every entry of `tree` into `root`: an entry the target lacks is renamed into place whole
 * (a directory with all it holds), a directory both have is merged, anything else on disk is
 * renamed aside (kept in the staging directory) and replaced; nothing on disk is ever followed or
 * written through. Each move is journalled in a file (memory stays flat) before or as it is made;
 * if one fails, the journal is played back. Returns false when the staging directory must be
 * kept (it holds what could not be put back).
 */
async function moveIntoPlace(tree: string, root: string, staging: string): Promise<boolean> {
  const journalFile = join(staging, 'journal');
  const fd = openSync(journalFile, 'wx', 0o600);
  const note = (line: JournalLine) => writeSync(fd, `${JSON.stringify(line)}\n`);
  await mkdir(join(staging, 'old'));
  let aside = 0;
  let current = '';
  const place = async (rel: string): Promise<void> => {
    current = rel;
    const src = join(tree, rel);
    const dst = join(root, rel);
    const staged = await lstat(src);
    const there = await lstat(dst).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (there === undefined) {
      await rename(src, dst);
      note(['new', rel]);
    } else if (staged.isDirectory() && there.isDirectory()) {
      for (const name of (await readdir(src)).sort()) await place(`${rel}/${name}`);
    } else {
      const old = join(staging, 'old', String(++aside));
      await rename(dst, old);
      note(['replaced', rel, old]);
      await rename(src, dst);
    }
  };
  try {
    for (const name of (await readdir(tree)).sort()) await place(name);
    closeSync(fd);
    return true;
  } catch (err) {
    closeSync(fd);
    const failed = `putting the restored files in place failed at ${current}: ${(err as Error).message}`;
    const left = await playBack(journalFile, root);
    if (left.length === 0) {
      await removeStaging(staging);
      throw new ExtractFailed(`${failed}; what had been put in place was taken back: nothing was restored`, true);
    }
    throw new ExtractFailed(
      `${failed}; taking back what had been put in place failed too, the target is left so:\n  ${left.slice(0, 10).join('\n  ')}${left.length > 10 ? `\n  … and ${left.length - 10} more` : ''}\n` +
        `what the target held before at those paths is kept in ${join(staging, 'old')}`,
      false,
    );
  }
}

/** Undoes the journalled moves, newest first; returns what could not be undone, described. */
async function playBack(journalFile: string, root: string): Promise<string[]> {
  const lines = (await readFile(journalFile, 'utf8')).split('\n').filter((l) => l !== '');
  const left: string[] = [];
  for (const raw of lines.reverse()) {
    const line = JSON.parse(raw) as JournalLine;
    const dst = join(root, line[1]);
    try {
      await rm(dst, { recursive: true, force: true });
      if (line[0] === 'replaced') await rename(line[2], dst);
    } catch (err) {
      left.push(
        line[0] === 'new'
          ? `${line[1]}: restored from the cache, could not be removed (${(err as Error).message})`
          : `${line[1]}: the old version could not be put back from ${line[2]} (${(err as Error).message})`,
      );
    }
  }
  return left;
}

async function removeStaging(staging: string): Promise<void> {
  // retried: after a failure, node-tar may still be finishing a write or two in there
  await rm(staging, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
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

interface ReadTarOptions {
  onBytes?: (delta: number) => void;
  /** The most uncompressed tar bytes to read: past it, the read stops and fails with tooBig's message. */
  max: number;
  tooBig(read: number): string;
}

/**
 * Streams the file, decompressed, into a tar Parser or Unpack, and waits for it to finish;
 * resolves to the uncompressed tar bytes read.
 */
function readTar(file: string, sink: Parser, options: ReadTarOptions): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let failed = false;
    let tarBytes = 0;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      source.destroy();
      gunzip.destroy();
      reject(err instanceof ArchiveRefused || sink instanceof Unpack ? err : new ArchiveRefused(`the archive is damaged: ${err.message}`));
      // no more entries: an Unpack stops writing (the error it emits for it is ignored: failed already)
      sink.abort(new Error('stopped'));
    };
    const source = createReadStream(file);
    const gunzip = createGunzip();
    const count = tap((n) => {
      tarBytes += n;
      if (tarBytes > options.max) fail(new ArchiveRefused(options.tooBig(tarBytes)));
    });
    source.on('error', fail);
    gunzip.on('error', (err) => fail(new ArchiveRefused(`the archive is damaged: ${err.message}`)));
    sink.on('error', fail);
    sink.on('close', () => {
      if (!failed) resolve(tarBytes);
    });
    source.pipe(tap((n) => options.onBytes?.(n))).pipe(gunzip).pipe(count);
    count.pipe(sink as unknown as NodeJS.WritableStream);
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
