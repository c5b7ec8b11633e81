/**
 * Restoring a cache archive: extracted only after its sha256 matched and every entry passed the
 * rules in rules.ts. Extraction goes to a staging directory in the root (same file system), and
 * only a complete, verified tree is moved into place (place.ts), so that a failed restore leaves
 * the target as it was. Nothing holds a whole file or tree in memory: the archive file streams
 * into the tree.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, statfs, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Parser, Unpack, type ReadEntry } from 'tar';
import { formatBytes } from '../progress';
import { ExtractFailed, moveIntoPlace, removeStaging } from './place';
import { Reservations } from './reservations';
import { ArchiveRefused, ArchiveRules, normalise, type Inspected } from './rules';
import { checkMagic, readTar, sha256File } from './tar-stream';

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
    throw new ArchiveRefused(
      `the archive expands to ${formatBytes(expanded)} (${expanded} bytes, ${what}), ` +
        `over the --max-expanded-size limit of ${formatBytes(limit)} (${limit} bytes)`,
    );
  }
  if (free !== undefined && expanded > free) {
    throw new ArchiveRefused(
      `the archive expands to ${formatBytes(expanded)} (${expanded} bytes, ${what}), more than the ${formatBytes(free)} free on the target's file system`,
    );
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
      `the archive needs about ${formatBytes(inspected.diskBytes)} on disk (${inspected.files} files and ${inspected.directories} directories), ` +
        `more than the ${formatBytes(free)} free on the target's file system`,
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
  // node-tar's own reservations keep every entry until the end (see reservations.ts)
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
