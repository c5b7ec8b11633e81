/**
 * Cache paths: '/'-separated, relative to one directory (the root), and checked before anything
 * is archived or restored. An archive holds relative paths only, so that a restore can write
 * nowhere but below its own directory.
 */
import { lstat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidInput } from './errors';

/**
 * The cache paths, '/'-separated and relative to `root` ('' is `root` itself), without
 * duplicates or paths inside another one. Absolute paths are accepted only inside `root`: an
 * archive holds relative paths, so that restore can write nowhere but below its own directory.
 */
export function cachePaths(args: readonly string[], root: string): string[] {
  if (args.length === 0) throw new InvalidInput('name at least one path to cache');
  const out: string[] = [];
  for (const arg of args) {
    if (arg === '' || arg.includes('\0')) throw new InvalidInput(`the path ${JSON.stringify(arg)} is not a path`);
    const rel = relative(root, resolve(root, arg));
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new InvalidInput(
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

export function describePath(path: string): string {
  return path === '' ? '.' : path;
}
