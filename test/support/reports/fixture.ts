/**
 * What every report generator shares: a throw-away fixture project (files written from strings,
 * with the repository's node_modules linked in so the real tools resolve), and a child process
 * that runs a real tool to its end. Imports nothing from jest: the bench compiles these modules
 * with its own tsconfig and calls them outside jest.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Debian's chromium (scripts/install-deps.sh installs it); no browser is ever downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** The repository's node_modules, found the way Node finds a package (works from dist/ too). */
export function nodeModules(): string {
  // <root>/node_modules/playwright-core/package.json -> <root>/node_modules
  return resolve(dirname(require.resolve('playwright-core/package.json')), '..');
}

/** The path of a package's file, e.g. bin('c8', 'bin/c8.js'). */
export function packageFile(pkg: string, file: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), file);
}

/**
 * Writes `files` into a new temp directory that links node_modules, runs `fn(dir)`, and removes
 * the directory whatever happens.
 */
export async function withFixture<T>(prefix: string, files: Record<string, string>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `agw-${prefix}-`));
  try {
    await symlink(nodeModules(), join(dir, 'node_modules'), 'dir');
    for (const [name, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `node <args>` in `cwd` with exactly `env` (plus PATH and HOME); rejects with the tool's
 * output when it exits with a code not in `okCodes`.
 */
export async function runNode(args: string[], cwd: string, env: Record<string, string> = {}, okCodes: number[] = [0]): Promise<string> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, CI: '1', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r, j) => {
    child.once('error', j);
    child.once('close', r);
  });
  if (code === null || !okCodes.includes(code)) {
    throw new Error(`node ${args.join(' ')} exited with ${String(code)}:\n${out.slice(-4000)}`);
  }
  return out;
}
