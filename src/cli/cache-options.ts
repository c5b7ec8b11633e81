/**
 * What `cache save` and `cache restore` read from the command line alike: the gateway, the token,
 * the key, and the cache paths with the directory they are relative to. Every problem is a
 * UsageError (exit 2) that names the option and never echoes the token.
 * The gateway URL and token rules are args.ts's gatewayOptions, shared with `upload`.
 */
import { lstat, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidKeyError } from '../errors';
import { toCacheKey } from '../storage/keys';
import { UsageError } from './args';

/** A key as the gateway will store it (NFC, <= 512 characters, no commas, no '..' segments). */
export function cacheKey(raw: string | undefined, option: string, prefix = false): string {
  if (raw === undefined || raw === '') throw new UsageError(`the option '--${option}' is required`);
  try {
    return toCacheKey(raw, { prefix });
  } catch (err) {
    if (err instanceof InvalidKeyError) throw new UsageError(`the option '--${option}': ${err.message}`);
    throw err;
  }
}

/**
 * The cache paths, '/'-separated and relative to `root` ('' is `root` itself), without
 * duplicates or paths inside another one. Absolute paths are accepted only inside `root`: an
 * archive holds relative paths, so that restore can write nowhere but below its own directory.
 */
export function cachePaths(args: readonly string[], root: string): string[] {
  if (args.length === 0) throw new UsageError('name at least one path to cache');
  const out: string[] = [];
  for (const arg of args) {
    if (arg === '' || arg.includes('\0')) throw new UsageError(`the path ${JSON.stringify(arg)} is not a path`);
    const rel = relative(root, resolve(root, arg));
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new UsageError(
        `the path ${JSON.stringify(arg)} is outside ${root}: cache paths are relative to the current directory (or --directory), and may not leave it`,
      );
    }
    out.push(rel.split(sep).join('/'));
  }
  const unique = [...new Set(out)].sort();
  return unique.filter((p) => !unique.some((q) => q !== p && (q === '' || p.startsWith(`${q}/`))));
}

/**
 * Refuses a path whose directories (below `root`) are anything but real directories: through a
 * symbolic link, `node_modules` could be outside `root` while its name is inside. Returns the
 * first problem, or undefined.
 */
export async function linkedAncestor(root: string, path: string): Promise<string | undefined> {
  const parts = path === '' ? [] : path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    const st = await lstat(resolve(root, dir)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) return undefined;
    if (st.isSymbolicLink()) return `${dir} is a symbolic link`;
    if (!st.isDirectory()) return `${dir} is not a directory`;
  }
  return undefined;
}

/** `--directory`: the directory cache paths are relative to (default: the current one). */
export async function rootDirectory(raw: string | undefined): Promise<string> {
  const root = resolve(raw ?? '.');
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(`${raw === undefined ? 'the current directory' : `the option '--directory' (${JSON.stringify(raw)})`} is not a directory`);
  }
  return root;
}

export function describePath(path: string): string {
  return path === '' ? '.' : path;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A byte count: a whole number, optionally followed by K, M, G or T (powers of 1024, with or without "iB"). */
export function byteSize(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`the option '--${option}' expects a size in bytes, such as 10737418240, 512M or 10GiB, got ${JSON.stringify(value)}`);
  }
  return n;
}
