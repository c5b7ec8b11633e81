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
 *   link and then written again); devices and FIFOs are skipped; other types are refused.
 *
 * node-tar's own checks (no '..', no extraction through links) still run during extraction, as
 * a second line.
 */
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ReadEntry } from 'tar';

export class ArchiveRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveRefused';
  }
}

export interface Inspected {
  entries: number;
  files: number;
  /** Bytes of file content. */
  bytes: number;
  skipped: string[];
}

export const SKIPPED_TYPES: ReadonlySet<string> = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);
const FILE_TYPES: ReadonlySet<string> = new Set(['File', 'OldFile', 'ContiguousFile']);
// node-tar's default limit too; past it, extraction would refuse the entry halfway through
const MAX_DEPTH = 1024;
const SHOWN_PROBLEMS = 10;

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
  private readonly seen = new Map<string, string>();
  private readonly problems: string[] = [];
  private problemCount = 0;
  /** Directories above the restore paths, which the archive does not hold but may write in. */
  private readonly above = new Set<string>();
  private readonly summary: Inspected = { entries: 0, files: 0, bytes: 0, skipped: [] };

  constructor(private readonly paths: readonly string[]) {
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
      this.problemCount++;
      if (this.problems.length < SHOWN_PROBLEMS) this.problems.push(`${JSON.stringify(raw)}: ${problem}`);
      return;
    }
    const p = path as string;
    if (SKIPPED_TYPES.has(entry.type)) {
      this.summary.skipped.push(`${p}: a ${entry.type === 'FIFO' ? 'FIFO' : 'device'}, not restored`);
      return;
    }
    this.summary.entries++;
    // a hard link is one more name of a file: counted as cache save counts it
    if (FILE_TYPES.has(entry.type) || entry.type === 'Link') this.summary.files++;
    if (FILE_TYPES.has(entry.type)) this.summary.bytes += entry.size;
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
        throw new ArchiveRefused(`${dir} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'} in the target: the cache would be written through it`);
      }
    }
  }

  private problemOf(entry: ReadEntry, path: string): string | undefined {
    const { type } = entry;
    if (!FILE_TYPES.has(type) && !SKIPPED_TYPES.has(type) && type !== 'Directory' && type !== 'SymbolicLink' && type !== 'Link') {
      return `an entry of type ${type}, which a cache does not hold`;
    }
    if (!this.paths.some((p) => p === '' || path === p || path.startsWith(`${p}/`))) {
      return `outside the restore paths (${this.paths.map((p) => (p === '' ? '.' : p)).join(', ')}); restore with the paths it was saved with`;
    }
    const parts = path.split('/');
    if (parts.length > MAX_DEPTH) return `more than ${MAX_DEPTH} directories deep`;
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
    if (type === 'SymbolicLink') return linkProblem(path, entry.linkpath ?? '');
    if (type === 'Link') {
      const target = normalise(entry.linkpath ?? '');
      if (typeof target !== 'string') return `a hard link to ${JSON.stringify(entry.linkpath)}: ${target.problem}`;
      if (!FILE_TYPES.has(this.seen.get(target) ?? '')) return `a hard link to ${target}, which is not a file earlier in the archive`;
    }
    return undefined;
  }
}

/** The entry's path without a leading './' or a directory's trailing '/', or what is wrong. */
function normalise(raw: string): string | { problem: string } {
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
