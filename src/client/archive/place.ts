/**
 * The last step of a restore: the staged tree moved into the target, every move journalled so
 * that a failure part way is taken back and the target is left as it was.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

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

type JournalLine = ['new', string] | ['replaced', string, string];

/**
 * Moves every entry of `tree` into `root`: an entry the target lacks is renamed into place whole
 * (a directory with all it holds), a directory both have is merged, anything else on disk is
 * renamed aside (kept in the staging directory) and replaced; nothing on disk is ever followed or
 * written through. Each move is journalled in a file (memory stays flat) before or as it is made;
 * if one fails, the journal is played back. Returns false when the staging directory must be
 * kept (it holds what could not be put back).
 */
export async function moveIntoPlace(tree: string, root: string, staging: string): Promise<boolean> {
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
    const shown = left.slice(0, 10).join('\n  ') + (left.length > 10 ? `\n  … and ${left.length - 10} more` : '');
    throw new ExtractFailed(
      `${failed}; taking back what had been put in place failed too, the target is left so:\n  ${shown}\n` +
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

export async function removeStaging(staging: string): Promise<void> {
  // retried: after a failure, node-tar may still be finishing a write or two in there
  await rm(staging, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
