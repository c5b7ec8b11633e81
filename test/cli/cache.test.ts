/**
 * `artifact-gateway cache save|restore`, run as built, against a real gateway (`serve`, fs
 * driver): the whole save -> restore cycle, write-once, prefix fallback, misses, direct uploads
 * in parts, and what a client must refuse even when the gateway serves it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runCli, startGateway, type Gateway } from '../support/cli';
import { craft, pnpmTree, snapshot } from '../support/cache-archives';

const SECRET = 'cache-test-secret-0123456789abcdef0123456789ab';
const PROJECT = 'acme/web';
const UNICODE = 'ünïcødé 日本 ✓';
const MiB = 1024 * 1024;

describe('artifact-gateway cache against a real gateway', () => {
  let gw: Gateway;
  let work: string;
  let ws: string;
  const tokens: Record<string, string> = {};
  const env = (token = tokens.main) => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token });
  const save = (key: string, paths: string[], cwd = ws, extra: string[] = [], token?: string) =>
    runCli(['cache', 'save', '--project', PROJECT, '--key', key, ...extra, ...paths], env(token), cwd);
  const restore = (cwd: string, key: string, paths: string[], extra: string[] = [], token?: string) =>
    runCli(['cache', 'restore', '--project', PROJECT, '--key', key, ...extra, ...paths], env(token), cwd);
  /** Nothing any command printed may hold the token (or its signature, which is the secret part). */
  const expectNoToken = (r: { stdout: string; stderr: string }, token = tokens.main) => {
    for (const secret of [token, token.split('.')[2]]) {
      expect(r.stdout).not.toContain(secret);
      expect(r.stderr).not.toContain(secret);
    }
  };

  beforeAll(async () => {
    // 5 MiB parts (the smallest S3 allows), so a 12 MiB archive goes up in three
    gw = await startGateway({ SIGNING_SECRET: SECRET, CACHE_PART_BYTES: String(5 * MiB) });
    const mint = async (name: string, args: string[]) => {
      const r = await runCli(['token', '--project', PROJECT, ...args], gw.env);
      expect(r.code).toBe(0);
      tokens[name] = r.stdout.trim();
    };
    await mint('main', ['--build', '1']);
    await mint('readOnly', ['--build', '2', '--scope', 'cache:read']);

    work = await mkdtemp(join(tmpdir(), 'agw-cache-e2e-'));
    ws = join(work, 'ws');
    const nm = join(ws, 'node_modules');
    await mkdir(join(nm, 'tool', 'bin'), { recursive: true });
    await mkdir(join(nm, '.bin'));
    await mkdir(join(nm, '@scope', 'pkg', 'lib', 'deep'), { recursive: true });
    await mkdir(join(nm, 'empty-dir'));
    await mkdir(join(nm, UNICODE));
    await writeFile(join(nm, 'tool', 'package.json'), '{"name":"tool"}');
    await writeFile(join(nm, 'tool', 'bin', 'cli.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
    await writeFile(join(nm, '@scope', 'pkg', 'lib', 'deep', 'index.js'), 'module.exports = 1;\n');
    await writeFile(join(nm, UNICODE, `${UNICODE}.txt`), 'unicode ✓\n');
    await symlink('../tool/bin/cli.js', join(nm, '.bin', 'tool'));
    await symlink('tool', join(nm, 'tool-alias'));
    await writeFile(join(ws, 'package.json'), '{}');
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  let original: Awaited<ReturnType<typeof snapshot>>;

  it('saves a node_modules tree, then restores it exactly on an exact hit with exit 0, printing the key', async () => {
    const saved = await save('npm-linux-abc', ['node_modules']);
    expect(saved.stderr).toMatch(/archived 4 files, 12 directories and links \(.*\) into .* in /);
    expect(saved.stderr).toMatch(/saved cache "npm-linux-abc" \(.*, sha256 [0-9a-f]{64}\) in scope branch:main in /);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toBe('');
    expectNoToken(saved);

    const target = await mkdtemp(join(work, 'exact-'));
    const r = await restore(target, 'npm-linux-abc', ['node_modules']);
    expect(r.stderr).toMatch(/exact hit: "npm-linux-abc" \(.*\) in scope branch:main, saved .* by acme\/web branch main build 1, trusted/);
    expect(r.stderr).toContain('sha256 matches the entry');
    expect(r.stderr).toContain('every entry is safe to restore');
    expect(r.stderr).toMatch(/restored 4 files, 12 directories and links \(.*\) into node_modules in /);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('npm-linux-abc\n');
    expectNoToken(r);
    original = await snapshot(join(ws, 'node_modules'));
    expect(await snapshot(join(target, 'node_modules'))).toEqual(original);
    expect(await readdir(target)).toEqual(['node_modules']);
  });

  it('reports a key that already exists as saved (exit 0), and keeps the first entry (write-once)', async () => {
    await writeFile(join(ws, 'node_modules', 'added-later.js'), 'new');
    const r = await save('npm-linux-abc', ['node_modules']);
    expect(r.stderr).toMatch(
      /cache "npm-linux-abc" already exists in scope branch:main \(saved .* by acme\/web branch main build 1, trusted\): not saved again/,
    );
    expect(r.code).toBe(0);
    await rm(join(ws, 'node_modules', 'added-later.js'));
  });

  it('restores the entry of a restore-key prefix with exit 4 (a partial hit)', async () => {
    const target = await mkdtemp(join(work, 'prefix-'));
    const r = await restore(target, 'npm-linux-def', ['node_modules'], ['--restore-keys', 'npm-windows-,npm-linux-']);
    expect(r.stderr).toMatch(/prefix hit: "npm-linux-abc"/);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('npm-linux-abc\n');
    // the first entry, not the tree as it was when the second save was refused
    expect(await snapshot(join(target, 'node_modules'))).toEqual(original);
  });

  it('exits 3 on a miss, prints nothing on stdout and writes nothing', async () => {
    const target = await mkdtemp(join(work, 'miss-'));
    const r = await restore(target, 'pip-abc', ['node_modules'], ['--restore-keys', 'pip-']);
    expect(r.stderr).toContain('cache miss: no entry for "pip-abc" nor any key starting with "pip-"');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses to restore into other paths than the cache was saved with (exit 1), writing nothing', async () => {
    const target = await mkdtemp(join(work, 'paths-'));
    const r = await restore(target, 'npm-linux-abc', ['node_modules/tool']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the archive, nothing was restored: .*\n.*"node_modules\/": outside the restore paths \(node_modules\/tool\)/);
    expect(await readdir(target)).toEqual([]);
  });

  it('uploads an archive above --direct-threshold straight to storage in parts, and restores it byte for byte', async () => {
    const big = join(work, 'big');
    await mkdir(join(big, '.cache', 'tool'), { recursive: true });
    // random, so that compression cannot shrink it below three 5 MiB parts
    await writeFile(join(big, '.cache', 'tool', 'blob.bin'), randomBytes(12 * MiB));
    await writeFile(join(big, '.cache', 'small.txt'), 'small');
    const r = await save('tool-big', ['.cache'], big, ['--direct-threshold', String(MiB)]);
    expect(r.stderr).toMatch(/saved cache "tool-big" \(12\.0 MiB, sha256 [0-9a-f]{64}\) in scope branch:main by direct upload/);
    expect(r.code).toBe(0);
    expectNoToken(r);

    const target = await mkdtemp(join(work, 'big-'));
    const back = await restore(target, 'tool-big', ['.cache']);
    expect(back.code).toBe(0);
    // by sha256: jest's toEqual on two 12 MiB buffers takes half a minute
    expect(await snapshot(join(target, '.cache'))).toEqual(await snapshot(join(big, '.cache')));

    const again = await save('tool-big', ['.cache'], big, ['--direct-threshold', String(MiB)]);
    expect(again.stderr).toMatch(/cache "tool-big" already exists in scope branch:main/);
    expect(again.code).toBe(0);
  });

  it('refuses an archive whose stored bytes changed after it was saved: exit 1, nothing extracted', async () => {
    const tampered = join(work, 'tampered-src');
    await mkdir(join(tampered, 'node_modules', 'x'), { recursive: true });
    await writeFile(join(tampered, 'node_modules', 'x', 'index.js'), 'x');
    expect((await save('tampered', ['node_modules'], tampered)).code).toBe(0);
    // the fs driver keeps an object's body at the end of its file: flip the last byte
    const object = await newestObject(join(gw.env.DATA_DIR));
    const handle = await open(object, 'r+');
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    await handle.write(Buffer.from([last[0] ^ 0xff]), 0, 1, size - 1);
    await handle.close();

    const target = await mkdtemp(join(work, 'tampered-'));
    const r = await restore(target, 'tampered', ['node_modules']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the archive, nothing was restored: the archive's sha256 is [0-9a-f]{64}, but the gateway recorded [0-9a-f]{64}/);
    expect(r.stdout).toBe('');
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses a poisoned archive that a job saved through the gateway: exit 1, nothing written inside or outside', async () => {
    // what a compromised job with cache:write could store: a link out of the target and a write through it
    const body = craft([
      { path: 'node_modules/', type: 'Directory' },
      { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: '../../outside' },
      { path: 'node_modules/evil/canary.txt', body: 'pwned' },
    ]);
    const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches/poisoned`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.main}` },
      body,
    });
    expect(res.status).toBe(201);
    const sandbox = await mkdtemp(join(work, 'poisoned-'));
    await mkdir(join(sandbox, 'target'));
    await mkdir(join(sandbox, 'outside'));
    await writeFile(join(sandbox, 'outside', 'canary.txt'), 'canary');

    const r = await restore(join(sandbox, 'target'), 'poisoned', ['node_modules']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the archive, nothing was restored: the archive breaks the rules of a cache in 2 entries/);
    expect(r.stderr).toContain('"node_modules/evil": a symbolic link to ../../outside, outside the directory');
    expect(r.stderr).toContain('"node_modules/evil/canary.txt": would be written through node_modules/evil');
    expect(await readdir(join(sandbox, 'target'))).toEqual([]);
    expect(await readFile(join(sandbox, 'outside', 'canary.txt'), 'utf8')).toBe('canary');
  });

  it('saves and restores a pnpm-like node_modules, links through links, exactly (exit 0)', async () => {
    const src = join(work, 'pnpm');
    await pnpmTree(src);
    const saved = await save('pnpm-linux-1', ['node_modules', 'packages'], src);
    expect(saved.stderr).toMatch(/saved cache "pnpm-linux-1"/);
    expect(saved.code).toBe(0);
    const target = await mkdtemp(join(work, 'pnpm-'));
    const r = await restore(target, 'pnpm-linux-1', ['node_modules', 'packages']);
    expect(r.stderr).toMatch(/restored 4 files, 22 directories and links/);
    expect(r.code).toBe(0);
    expect(await snapshot(target)).toEqual(await snapshot(src));
    expect(await readFile(join(target, 'node_modules', '.bin', 'a'), 'utf8')).toBe('#!/usr/bin/env node\n');
    expect((await readdir(target)).sort()).toEqual(['node_modules', 'packages']);
  });

  it('restores over an earlier restore: the same tree, no staging directory left', async () => {
    const target = await mkdtemp(join(work, 'twice-'));
    expect((await restore(target, 'npm-linux-abc', ['node_modules'])).code).toBe(0);
    await writeFile(join(target, 'node_modules', 'tool', 'package.json'), 'changed since');
    expect((await restore(target, 'npm-linux-abc', ['node_modules'])).code).toBe(0);
    expect(await snapshot(join(target, 'node_modules'))).toEqual(original);
    expect(await readdir(target)).toEqual(['node_modules']);
  });

  it('records what the archive expands to, and refuses before downloading one over --max-expanded-size (exit 1)', async () => {
    const lookup = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches?keys=npm-linux-abc`, {
      headers: { authorization: `Bearer ${tokens.main}` },
    });
    const entry = (await lookup.json()) as { expandedSize?: number; url: string };
    const archive = Buffer.from(await (await fetch(entry.url)).arrayBuffer());
    expect(entry.expandedSize).toBe(gunzipSync(archive).length);

    const target = await mkdtemp(join(work, 'limit-'));
    const r = await restore(target, 'npm-linux-abc', ['node_modules'], ['--max-expanded-size', '4K']);
    expect(r.stderr).toContain(
      `refused the archive, nothing was restored: the archive expands to ${(entry.expandedSize! / 1024).toFixed(1)} KiB (${entry.expandedSize} bytes, recorded when it was saved), over the --max-expanded-size limit of 4.0 KiB (4096 bytes)`,
    );
    expect(r.stderr).not.toContain('downloaded');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses an archive that expands past the size its saver recorded: exit 1, nothing written', async () => {
    // a small gzip of 32 MiB of zeros, recorded as expanding to 1 MiB
    const body = craft([
      { path: 'node_modules/', type: 'Directory' },
      { path: 'node_modules/zeros', body: Buffer.alloc(32 * MiB) },
    ]);
    const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches/bomb?expandedSize=${MiB}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.main}` },
      body,
    });
    expect(res.status).toBe(201);
    const target = await mkdtemp(join(work, 'bomb-'));
    const r = await restore(target, 'bomb', ['node_modules']);
    expect(r.stderr).toMatch(
      /refused the archive, nothing was restored: the archive expands past 1\.0 MiB \(1048576 bytes\), the size recorded when it was saved/,
    );
    expect(r.code).toBe(1);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses an archive holding a GNU sparse file: exit 1, naming the entry and its type, nothing written', async () => {
    const body = craft([
      { path: 'node_modules/', type: 'Directory' },
      { path: 'node_modules/a.js', body: 'a' },
      { path: 'node_modules/holes.bin', flag: 'S', body: 'x' },
    ]);
    const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches/sparse`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.main}` },
      body,
    });
    expect(res.status).toBe(201);
    const target = await mkdtemp(join(work, 'sparse-'));
    const r = await restore(target, 'sparse', ['node_modules']);
    expect(r.stderr).toContain(`"node_modules/holes.bin": an entry of type SparseFile ('S'), which a cache does not hold`);
    expect(r.code).toBe(1);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses to save a path over the 4,095 bytes a path may have: exit 1, naming it, nothing saved', async () => {
    const deep = join(work, 'deep');
    await mkdir(join(deep, 'node_modules'), { recursive: true });
    // made one directory at a time from inside: the whole path is too long for any single call
    const name = 'd'.repeat(250);
    execFileSync('bash', ['-c', `cd node_modules && for i in $(seq 17); do mkdir ${name} && cd ${name}; done && echo x > x.js`], { cwd: deep });
    const r = await save('deep', ['node_modules'], deep);
    expect(r.stderr).toMatch(
      /artifact-gateway cache save: cannot cache "node_modules\/d{250}\/[^"]*": a path of \d+ bytes, \d+ with the directory it goes in, over the 4095 bytes a path may have; nothing was saved/,
    );
    expect(r.code).toBe(1);
    const lookup = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/caches?keys=deep`, {
      headers: { authorization: `Bearer ${tokens.main}` },
    });
    expect(lookup.status).toBe(204);
    // rm -r of node:fs cannot remove it either (ENAMETOOLONG); rm(1) works from inside
    execFileSync('rm', ['-rf', 'deep'], { cwd: work });
  });

  it('exits 1 with the 403 message for a token without cache:write, and never prints the token', async () => {
    const r = await save('npm-readonly', ['node_modules'], ws, [], tokens.readOnly);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/artifact-gateway cache save: upload: 403 forbidden: .*cache:write/);
    expectNoToken(r, tokens.readOnly);
  });

  it('exits 1 with the 401 message for a forged token, and never prints it', async () => {
    const [head, payload, signature] = tokens.main.split('.');
    const forged = `${head}.${payload}.${signature.slice(0, -4)}AAAA`;
    const target = await mkdtemp(join(work, 'forged-'));
    for (const r of [
      await restore(target, 'npm-linux-abc', ['node_modules'], [], forged),
      await runCli(['cache', 'restore', '--token', forged, '--project', PROJECT, '--key', 'k', 'node_modules'], { ARTIFACT_GATEWAY_URL: gw.url }, target),
    ]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cache look-up: 401 unauthorized: job token rejected/);
      expectNoToken(r, forged);
    }
    expect(gw.logs()).not.toContain(forged);
  });

  it.each([
    [['save', '--project', PROJECT, 'node_modules'], /'--key' is required/],
    [['save', '--key', 'k', 'node_modules'], /'--project' is required/],
    [['save', '--project', PROJECT, '--key', 'k'], /name at least one path to cache/],
    [['save', '--project', PROJECT, '--key', 'a,b', 'node_modules'], /'--key': cache key contains a comma/],
    [['save', '--project', PROJECT, '--key', 'k', '../outside'], /"\.\.\/outside" is outside .*: cache paths are relative to the current directory/],
    [['save', '--project', PROJECT, '--key', 'k', '/etc'], /"\/etc" is outside/],
    [['save', '--project', PROJECT, '--key', 'k', 'no-such-dir'], /cannot read "no-such-dir": no such file or directory/],
    [['save', '--project', PROJECT, '--key', 'k', '--direct-threshold', '1e6', 'node_modules'], /'--direct-threshold' expects a whole number/],
    [['save', '--project', PROJECT, '--key', 'k', '--bogus', 'node_modules'], /Unknown option '--bogus'/],
    [['restore', '--project', PROJECT, '--key', 'k'], /name at least one path to cache/],
    [['restore', '--project', PROJECT, '--key', 'k', '--restore-keys', 'a/../b', 'node_modules'], /'--restore-keys': restore key contains a '\.\.' segment/],
    [['restore', '--project', PROJECT, '--key', 'k', '--url', 'ftp://x', 'node_modules'], /'--url' must be an http\(s\) URL/],
    [['restore', '--project', PROJECT, '--key', 'k', '--restore-keys', 'a,b,c,d,e,f,g,h,i,j', 'node_modules'], /at most 9 restore keys/],
    [
      ['restore', '--project', PROJECT, '--key', 'k', '--max-expanded-size', '10X', 'node_modules'],
      /'--max-expanded-size' expects a size in bytes, such as 10737418240, 512M or 10GiB, got "10X"/,
    ],
    [['frobnicate'], /unknown subcommand "frobnicate"/],
    [[], /name a subcommand/],
  ])('exits 2 naming the problem for cache %j', async (args, message) => {
    const r = await runCli(['cache', ...args], env(), ws);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expectNoToken(r);
  });

  it('exits 2 when there is no token, or a malformed one, without echoing it', async () => {
    const none = await runCli(['cache', 'save', '--project', PROJECT, '--key', 'k', 'node_modules'], { ARTIFACT_GATEWAY_URL: gw.url }, ws);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/a job token is required/);
    const bad = await runCli(
      ['cache', 'restore', '--project', PROJECT, '--key', 'k', 'node_modules'],
      { ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: 'not a "secret"' },
      ws,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/the job token is malformed/);
    expect(bad.stderr).not.toContain('secret');
  });

  it.each([[['cache', '--help']], [['cache', 'save', '--help']], [['cache', 'restore', '-h']]])('prints help for %j with exit 0', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: artifact-gateway cache/);
  });

  it('documents the exit statuses of restore in its help', async () => {
    const r = await runCli(['cache', 'restore', '--help']);
    for (const line of [/0 {2}exact hit/, /1 {2}error/, /2 {2}bad command line/, /3 {2}miss/, /4 {2}prefix hit/, /--max-expanded-size N/])
      expect(r.stdout).toMatch(line);
  });
});

/** The object file the fs driver wrote last under the cache bucket (an archive's bytes). */
async function newestObject(dataDir: string): Promise<string> {
  let newest: { path: string; mtime: number } | undefined;
  for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/^[0-9a-f-]{36}$/.test(entry.name) || !entry.parentPath.endsWith('o\\')) continue;
    const path = join(entry.parentPath, entry.name);
    const { mtimeMs } = await stat(path);
    if (!newest || mtimeMs > newest.mtime) newest = { path, mtime: mtimeMs };
  }
  if (!newest) throw new Error(`no cache object under ${dataDir}`);
  return newest.path;
}
