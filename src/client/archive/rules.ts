/**
 * What a cache archive may hold, checked for every entry before anything is written. A cache is
 * written by one job and executed by the next (Cacheract, 2024: a poisoned cache entry that
 * overwrote files outside the cached paths, including the runner's own), so a restore accepts
 * only what `cache save` makes, and refuses the whole archive otherwise:
 *
 * - relative paths without '.'/'..' segments, each under one of the restore paths;
 * - an entry's parent is a directory entry earlier in the archive, or a directory above a restore
 *   path that is a real directory on disk: nothing is written through a link, ours or theirs;
 * - a symbolic link points inside the root, as '../'s followed by names (a '..' after a name
 *   could climb out of a directory reached through another link, which a lexical check misses);
 * - a hard link names a regular file earlier in the same archive (never something on disk);
 * - no path twice (a link replacing a directory already written into, or a file replaced by a
 *   link and then written again);
 * - only directories, files, symbolic and hard links: devices, FIFOs, GNU sparse files, volume
 *   headers, multi-volume continuations and types nobody knows are refused (node-tar's parser
 *   drops the last four without a word: they arrive here through its 'ignoredEntry' event);
 * - names of at most 255 bytes, and paths that stay within the 4,095 bytes the system allows
 *   once put under the directory they are restored to (and the restore's staging directory).
 *
 * node-tar's own checks (no '..', no extraction through links) still run during extraction, as
 * a second line.
 */
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { types, type ReadEntry } from 'tar';
import { PathIndex } from './path-index';

export class ArchiveRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveRefused';
  }
}

export interface Inspected {
  entries: number;
  files: number;
  directories: number;
  /** Bytes of file content. */
  bytes: number;
  /** The space the files and directories take on disk, each rounded up to a block. */
  diskBytes: number;
}

export interface RulesOptions {
  /** Bytes of the directory entries are put under, with its trailing '/' (the staging directory). */
  prefixBytes?: number;
  /** The file system's block size, for diskBytes. */
  blockSize?: number;
}

const FILE_TYPES: ReadonlySet<string> = new Set(['File', 'OldFile', 'ContiguousFile']);
const KEPT_TYPES: ReadonlySet<string> = new Set([...FILE_TYPES, 'Directory', 'SymbolicLink', 'Link']);
// node-tar's default limit too; past it, extraction would refuse the entry halfway through
const MAX_DEPTH = 1024;
/** NAME_MAX and PATH_MAX of Linux (and most file systems): a name, and a whole path without its NUL. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4095;
const SHOWN_PROBLEMS = 10;

/** What is wrong with the length of a path (relative, '/'-separated) put after `prefixBytes` bytes, or undefined. */
export function lengthProblem(path: string, prefixBytes: number): string | undefined {
  for (const name of path.split('/')) {
    const n = Buffer.byteLength(name);
    if (n > MAX_NAME_BYTES) return `a name of ${n} bytes (${JSON.stringify(name.slice(0, 24))}…), over the ${MAX_NAME_BYTES} bytes a file name may have`;
  }
  const n = Buffer.byteLength(path);
  if (prefixBytes + n > MAX_PATH_BYTES) {
    return `a path of ${n} bytes, ${prefixBytes + n} with the directory it goes in, over the ${MAX_PATH_BYTES} bytes a path may have`;
  }
  return undefined;
}

/** An entry type as a person can look it up: its name and its tar type flag. */
export function describeType(type: string): string {
  // node-tar reads a flag it does not know as 'Unsupported', and keeps no copy of it
  if (type === 'Unsupported') return 'unknown type (a type flag tar does not define)';
  const flag = types.code.get(type as never);
  return flag === undefined ? `unknown type ${JSON.stringify(type)}` : `type ${type} ('${flag === '' ? '\\0' : flag}')`;
}

/** Why a symbolic link at `path` pointing to `target` cannot be in a cache, or undefined. */
export function linkProblem(path: string, target: string): string | undefined {
  if (target === '') return 'a symbolic link with an empty target';
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target)) return `a symbolic link to the absolute path ${target}`;
  let ups = 0;
  let names = 0;
  // backslashes count as separators: node-tar reads them so, and no real package needs one
  for (const part of target.split(/[\\/]/)) {
    if (part === '' || part === '.') continue;
    if (part !== '..') names++;
    else if (names > 0) return `a symbolic link to ${target}, which climbs ('..') after a name`;
    else ups++;
  }
  if (ups > path.split('/').length - 1) return `a symbolic link to ${target}, outside the directory`;
  return undefined;
}

export class ArchiveRules {
  private readonly seen = new PathIndex();
  private readonly problems: string[] = [];
  private problemCount = 0;
  /** Directories above the restore paths, which the archive does not hold but may write in. */
  private readonly above = new Set<string>();
  private readonly summary: Inspected = { entries: 0, files: 0, directories: 0, bytes: 0, diskBytes: 0 };
  private readonly prefixBytes: number;
  private readonly blockSize: number;

  constructor(
    private readonly paths: readonly string[],
    options: RulesOptions = {},
  ) {
    this.prefixBytes = options.prefixBytes ?? 0;
    this.blockSize = options.blockSize ?? 4096;
    for (const p of paths) {
      const parts = p === '' ? [] : p.split('/');
      for (let i = 1; i < parts.length; i++) this.above.add(parts.slice(0, i).join('/'));
    }
  }

  /** Records one entry; never throws (it runs inside the tar parser's event). */
  check(entry: ReadEntry): void {
    const raw = entry.path;
    const path = normalise(raw);
    const problem = typeof path === 'string' ? this.problemOf(entry, path) : path.problem;
    // recorded even when refused, so that what follows is judged (and reported) against it
    if (typeof path === 'string' && !this.seen.has(path)) this.seen.set(path, entry.type);
    if (problem) {
      this.refuse(raw, problem);
      return;
    }
    this.summary.entries++;
    // a hard link is one more name of a file: counted as cache save counts it
    if (FILE_TYPES.has(entry.type) || entry.type === 'Link') this.summary.files++;
    if (entry.type === 'Directory') {
      this.summary.directories++;
      this.summary.diskBytes += this.blockSize;
    }
    if (FILE_TYPES.has(entry.type)) {
      this.summary.bytes += entry.size;
      this.summary.diskBytes += Math.ceil(entry.size / this.blockSize) * this.blockSize;
    }
  }

  /**
   * An entry node-tar's parser dropped without handing it on (sparse files, volume headers,
   * continuations, unknown types, metadata too large to read): always refused.
   */
  ignored(entry: ReadEntry): void {
    this.refuse(entry.path, `an entry of ${describeType(entry.type)}, which a cache does not hold`);
  }

  private refuse(raw: string, problem: string): void {
    this.problemCount++;
    if (this.problems.length < SHOWN_PROBLEMS) this.problems.push(`${JSON.stringify(raw)}: ${problem}`);
  }

  /** The summary; throws ArchiveRefused listing the problems when there were any. */
  result(): Inspected {
    if (this.problemCount > 0) {
      const more = this.problemCount - this.problems.length;
      throw new ArchiveRefused(
        `the archive breaks the rules of a cache in ${this.problemCount} entr${this.problemCount === 1 ? 'y' : 'ies'}:\n  ` +
          this.problems.join('\n  ') +
          (more > 0 ? `\n  … and ${more} more` : ''),
      );
    }
    if (this.summary.entries === 0) throw new ArchiveRefused('the archive holds nothing to restore');
    return this.summary;
  }

  /** The directories the archive writes in without holding them must be real directories. */
  async checkTarget(root: string): Promise<void> {
    for (const dir of [...this.above].sort()) {
      const st = await lstat(resolve(root, dir)).catch(() => undefined);
      if (st && !st.isDirectory()) {
        throw new ArchiveRefused(
          `${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'} in the target: the cache would be written through it`,
        );
      }
    }
  }

  private problemOf(entry: ReadEntry, path: string): string | undefined {
    const { type } = entry;
    if (!KEPT_TYPES.has(type)) return `an entry of ${describeType(type)}, which a cache does not hold`;
    if (!this.paths.some((p) => p === '' || path === p || path.startsWith(`${p}/`))) {
      return `outside the restore paths (${this.paths.map((p) => (p === '' ? '.' : p)).join(', ')}); restore with the paths it was saved with`;
    }
    const parts = path.split('/');
    if (parts.length > MAX_DEPTH) return `more than ${MAX_DEPTH} directories deep`;
    const tooLong = lengthProblem(path, this.prefixBytes);
    if (tooLong) return tooLong;
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const t = this.seen.get(dir);
      if (t !== undefined && t !== 'Directory') return `would be written through ${dir}, which the archive made a ${describe(t)}`;
    }
    const parent = parts.slice(0, -1).join('/');
    if (parent !== '' && !this.above.has(parent) && this.seen.get(parent) !== 'Directory') {
      return `its directory ${parent} is not in the archive before it`;
    }
    const before = this.seen.get(path);
    if (before !== undefined && !(before === 'Directory' && type === 'Directory')) return `appears twice (first as a ${describe(before)})`;
    if (type === 'SymbolicLink') {
      const target = entry.linkpath ?? '';
      if (Buffer.byteLength(target) > MAX_PATH_BYTES)
        return `a symbolic link to a path of ${Buffer.byteLength(target)} bytes, over the ${MAX_PATH_BYTES} bytes a link may hold`;
      return linkProblem(path, target);
    }
    if (type === 'Link') {
      const target = normalise(entry.linkpath ?? '');
      if (typeof target !== 'string') return `a hard link to ${JSON.stringify(entry.linkpath)}: ${target.problem}`;
      if (!FILE_TYPES.has(this.seen.get(target) ?? '')) return `a hard link to ${target}, which is not a file earlier in the archive`;
    }
    return undefined;
  }
}

/** The entry's path without a leading './' or a directory's trailing '/', or what is wrong. */
export function normalise(raw: string): string | { problem: string } {
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) return { problem: 'an absolute path' };
  const parts = raw.split('/');
  while (parts[0] === '.' && parts.length > 1) parts.shift();
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  for (const part of parts) {
    if (part === '' || part === '.') return { problem: 'an empty or "." path segment' };
    if (part.split('\\').includes('..')) return { problem: "a '..' path segment" };
  }
  return parts.join('/');
}

function describe(type: string): string {
  return type === 'SymbolicLink' ? 'symbolic link' : type === 'Link' ? 'hard link' : FILE_TYPES.has(type) ? 'file' : type;
}
