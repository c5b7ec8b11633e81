/**
 * What an upload sends: the files under each argument, and the path each gets in
 * the build. A directory's files keep their path relative to it; a file argument keeps its base
 * name; both under --prefix. Symbolic links inside a tree are never followed (a link can point
 * anywhere, ~/.ssh included, and could loop), only reported; a link named on the command line is
 * followed, as `find -H` does, because the user chose it.
 */
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidInput } from './errors';

export interface LocalFile {
  /** Absolute path to read (command-line links resolved). */
  source: string;
  /** Path inside the build, '/'-separated. */
  path: string;
  /** Size when listed; the upload sends what the file holds when it is opened. */
  size: number;
}

export interface CollectedFiles {
  files: LocalFile[];
  /** Links and special files that were left out, with why. */
  skipped: string[];
}

/**
 * Hidden files and directories (names starting with '.') inside a tree are left out unless asked
 * for: `.git/config` with a token in it, `.env`, `.npmrc` have leaked through artifacts this way,
 * and GitHub's upload-artifact excludes them by default since v4.4 for the same reason.
 */
export async function collectFiles(args: readonly string[], prefix: string, options: { includeHidden?: boolean } = {}): Promise<CollectedFiles> {
  const files: LocalFile[] = [];
  const skipped: string[] = [];
  const under = (rel: string) => (prefix === '' ? rel : `${prefix}/${rel}`);

  async function walk(dir: string, shown: string, rel: string): Promise<void> {
    const entries = [];
    try {
      for await (const entry of await opendir(dir)) entries.push(entry);
    } catch (err) {
      throw unreadable(shown, err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const source = join(dir, entry.name);
      const display = join(shown, entry.name);
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.name.startsWith('.') && !options.includeHidden) {
        skipped.push(`${display}: hidden (pass --include-hidden to upload hidden files)`);
      } else if (entry.isSymbolicLink()) skipped.push(`${display}: a symbolic link (links inside a directory are not followed)`);
      else if (entry.isDirectory()) await walk(source, display, path);
      else if (entry.isFile()) files.push({ source, path: under(path), size: await sizeOf(source, display) });
      else skipped.push(`${display}: not a regular file`);
    }
  }

  for (const arg of args) {
    let info;
    try {
      info = await stat(arg);
    } catch (err) {
      throw unreadable(arg, err);
    }
    const source = await realpath(arg);
    if (info.isDirectory()) await walk(source, arg, '');
    else if (info.isFile()) files.push({ source, path: under(basename(arg)), size: info.size });
    else skipped.push(`${arg}: not a regular file or directory`);
  }

  // two arguments that land on the same path would make the second upload a 409 at best
  const seen = new Map<string, string>();
  for (const f of files) {
    const other = seen.get(f.path);
    if (other !== undefined) throw new InvalidInput(`${other} and ${f.source} would both be uploaded as ${JSON.stringify(f.path)}`);
    seen.set(f.path, f.source);
  }
  return { files, skipped };
}

// before anything is sent, an unreadable path is the caller's to fix, like a missing one: exit 2
function unreadable(path: string, err: unknown): InvalidInput {
  const code = (err as NodeJS.ErrnoException).code;
  return new InvalidInput(`cannot read ${JSON.stringify(path)}: ${code === 'ENOENT' ? 'no such file or directory' : (code ?? String(err))}`);
}

async function sizeOf(source: string, shown: string): Promise<number> {
  try {
    return (await lstat(source)).size;
  } catch (err) {
    throw unreadable(shown, err);
  }
}
