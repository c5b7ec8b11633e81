/**
 * Cache archives without a gateway: a real tree through collect -> archive -> extract, and
 * hand-made poisoned archives that must be refused before a single byte is written.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { linkProblem } from '../../src/cli/cache-archive-rules';
import { ArchiveRefused, extractArchive, type Collected, type Created } from '../../src/cli/cache-archive';
import { UsageError } from '../../src/cli/args';
import { cacheKey, cachePaths } from '../../src/cli/cache-options';
import { craft, sha256Of, snapshot, type Crafted } from './cache-support';

/**
 * collectEntries + createArchive run by the BUILT code in a child process, as users run it: in
 * jest's sandbox, fs.Stats dates are not `instanceof` the sandbox's Date, and node-tar then
 * writes pax times as date strings (plain node writes seconds, as python's tarfile confirms).
 */
function archive(root: string, paths: string[], file: string): { collected: Collected; created: Created } {
  const script = `
    const { collectEntries, createArchive } = require(${JSON.stringify(resolve(__dirname, '../../dist/cli/cache-archive.js'))});
    (async () => {
      const collected = await collectEntries(process.argv[1], JSON.parse(process.argv[2]));
      const created = await createArchive(process.argv[1], collected.entries, process.argv[3]);
      process.stdout.write(JSON.stringify({ collected, created }));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, root, JSON.stringify(paths), file], { encoding: 'utf8' })) as { collected: Collected; created: Created };
}

const UNICODE = 'ünïcødé 日本 ✓';
let work: string;
let savedUmask: number;

beforeAll(async () => {
  // modes are compared exactly; extraction applies the umask, as tar does for non-root users
  savedUmask = process.umask(0o022);
  work = await mkdtemp(join(tmpdir(), 'agw-cache-archive-'));
});
afterAll(async () => {
  process.umask(savedUmask);
  await rm(work, { recursive: true, force: true });
});

describe('cache archive round trip', () => {
  let src: string;
  const paths = ['node_modules', '@top'];

  beforeAll(async () => {
    src = join(work, 'src');
    const nm = join(src, 'node_modules');
    await mkdir(join(nm, 'tool', 'bin'), { recursive: true });
    await mkdir(join(nm, '.bin'));
    await mkdir(join(nm, '@scope', 'pkg', 'lib', 'deep', 'er'), { recursive: true });
    await mkdir(join(nm, 'empty-dir'));
    await mkdir(join(nm, UNICODE));
    await mkdir(join(nm, 'private'), { mode: 0o700 });
    await mkdir(join(src, '@top'));
    await writeFile(join(nm, 'tool', 'package.json'), '{"name":"tool","bin":"bin/cli.js"}');
    await writeFile(join(nm, 'tool', 'bin', 'cli.js'), '#!/usr/bin/env node\nconsole.log("hi")\n', { mode: 0o755 });
    await writeFile(join(nm, '@scope', 'pkg', 'lib', 'deep', 'er', 'index.js'), 'module.exports = 1;\n');
    await writeFile(join(nm, UNICODE, `${UNICODE}.txt`), 'unicode ✓\n');
    await writeFile(join(nm, 'private', 'secret.txt'), 'only me', { mode: 0o600 });
    await writeFile(join(nm, 'tool', 'readonly.txt'), 'read only', { mode: 0o444 });
    await writeFile(join(nm, 'tool', 'big.bin'), randomBytes(3 * 1024 * 1024));
    await writeFile(join(src, '@top', 'file'), 'a name starting with @');
    await link(join(nm, 'tool', 'package.json'), join(nm, 'tool', 'package-hardlink.json'));
    await symlink('../tool/bin/cli.js', join(nm, '.bin', 'tool'));
    await symlink('tool', join(nm, 'tool-alias'));
    await symlink(`../${UNICODE}/${UNICODE}.txt`, join(nm, 'tool', 'unicode-link'));
    await symlink('..', join(nm, 'tool', 'up')); // the root itself: inside
    // left out on save, with a warning each
    await symlink('/etc', join(nm, 'etc-link'));
    await symlink('../../outside', join(nm, 'escape-link'));
    spawnSync('mkfifo', [join(nm, 'fifo')]);
    await utimes(join(nm, 'tool', 'package.json'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
  });

  it('restores files, modes, mtimes, empty and private directories, unicode names, relative links and hard links exactly', async () => {
    const file = join(work, 'round-trip.tar.gz');
    const { collected, created } = archive(src, paths, file);
    expect(collected.skipped.sort()).toEqual([
      'node_modules/escape-link: a symbolic link to ../../outside, outside the directory',
      'node_modules/etc-link: a symbolic link to the absolute path /etc',
      'node_modules/fifo: a FIFO, which a cache does not hold',
    ]);
    expect(created.sha256).toBe(await sha256Of(file));
    expect(created.size).toBe((await stat(file)).size);

    const dst = await mkdtemp(join(work, 'dst-'));
    const restored = await extractArchive(file, { root: dst, paths, sha256: created.sha256 });
    expect(restored).toMatchObject({ files: collected.files, skipped: [] });

    const want = await snapshot(src);
    for (const left of ['node_modules/etc-link', 'node_modules/escape-link', 'node_modules/fifo']) want.delete(left);
    const got = await snapshot(dst);
    expect(got).toEqual(want);
    expect(got.get('node_modules/tool/bin/cli.js')?.mode).toBe(0o755);
    expect(got.get('node_modules/private')?.mode).toBe(0o700);
    expect(got.get('node_modules/tool/readonly.txt')?.mode).toBe(0o444);
    expect(got.get('node_modules/empty-dir')).toEqual({ type: 'dir', mode: 0o755 });
    expect(got.get('node_modules/.bin/tool')).toEqual({ type: 'link', target: '../tool/bin/cli.js' });
    expect(got.get('node_modules/tool/package.json')?.mtime).toBe(Date.parse('2020-01-02T03:04:05Z') / 1000);
    const [a, b] = await Promise.all([stat(join(dst, 'node_modules/tool/package.json')), stat(join(dst, 'node_modules/tool/package-hardlink.json'))]);
    expect(a.ino).toBe(b.ino);
  });

  it('restores over an existing tree by replacing files, never writing through a hard link or a link there', async () => {
    const file = join(work, 'over.tar.gz');
    const { created } = archive(src, paths, file);
    const sandbox = await mkdtemp(join(work, 'over-'));
    const dst = join(sandbox, 'target');
    const outside = join(sandbox, 'outside');
    await mkdir(join(dst, 'node_modules', 'tool'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'canary.txt'), 'canary');
    // a file on disk that is a hard link to something outside the target
    await link(join(outside, 'canary.txt'), join(dst, 'node_modules', 'tool', 'package.json'));
    // a link on disk where the archive has a directory
    await symlink(outside, join(dst, '@top'));
    await writeFile(join(dst, 'node_modules', 'stale.txt'), 'not in the archive');

    await extractArchive(file, { root: dst, paths, sha256: created.sha256 });
    expect(await readFile(join(outside, 'canary.txt'), 'utf8')).toBe('canary');
    expect((await stat(join(outside, 'canary.txt'))).nlink).toBe(1);
    expect(await readdir(outside)).toEqual(['canary.txt']);
    expect((await lstat(join(dst, '@top'))).isDirectory()).toBe(true);
    expect(await readFile(join(dst, 'node_modules', 'tool', 'package.json'), 'utf8')).toBe('{"name":"tool","bin":"bin/cli.js"}');
    expect(await readFile(join(dst, 'node_modules', 'stale.txt'), 'utf8')).toBe('not in the archive');
  });

  it('refuses to restore under a directory that is a link on disk, and writes nothing', async () => {
    const file = join(work, 'nested.tar.gz');
    await mkdir(join(work, 'nested-src', 'app', 'node_modules'), { recursive: true });
    await writeFile(join(work, 'nested-src', 'app', 'node_modules', 'x.js'), 'x');
    const { created } = archive(join(work, 'nested-src'), ['app/node_modules'], file);
    const sandbox = await mkdtemp(join(work, 'linked-'));
    await mkdir(join(sandbox, 'target'));
    await mkdir(join(sandbox, 'outside'));
    await symlink(join(sandbox, 'outside'), join(sandbox, 'target', 'app'));
    await expect(extractArchive(file, { root: join(sandbox, 'target'), paths: ['app/node_modules'], sha256: created.sha256 })).rejects.toThrow(
      /app is a symbolic link in the target/,
    );
    expect(await readdir(join(sandbox, 'outside'))).toEqual([]);
  });

  it('refuses an archive holding paths outside the restore paths, and writes nothing', async () => {
    const file = join(work, 'paths.tar.gz');
    const { created } = archive(src, paths, file);
    const dst = await mkdtemp(join(work, 'paths-'));
    await expect(extractArchive(file, { root: dst, paths: ['node_modules'], sha256: created.sha256 })).rejects.toThrow(
      /"@top\/": outside the restore paths \(node_modules\); restore with the paths it was saved with/,
    );
    expect(await readdir(dst)).toEqual([]);
  });
});

describe('a poisoned cache archive', () => {
  const stray = `agw-poison-${process.pid}-${Date.now()}`;
  let sandbox: string;
  let target: string;
  let outside: string;

  beforeEach(async () => {
    sandbox = await mkdtemp(join(work, 'poison-'));
    target = join(sandbox, 'target');
    outside = join(sandbox, 'outside');
    await mkdir(target);
    await mkdir(outside);
    await writeFile(join(outside, 'canary.txt'), 'canary');
    await writeFile(join(target, 'package.json'), '{}');
  });

  const nm = { path: 'node_modules/', type: 'Directory' };
  // `outside` and `canary` stand for /etc and /etc/passwd where a mistake would write there
  const cases: [string, (o: string) => Crafted[], RegExp][] = [
    ['a ../ path', () => [nm, { path: '../x', body: 'pwned' }], /"\.\.\/x": a '\.\.' path segment/],
    ['a .. segment inside a path', () => [nm, { path: 'node_modules/../../x', body: 'pwned' }], /a '\.\.' path segment/],
    ['a .. segment written with backslashes', () => [nm, { path: 'node_modules/..\\..\\x', body: 'pwned' }], /a '\.\.' path segment/],
    ['an absolute path', () => [nm, { path: `/tmp/${stray}`, body: 'pwned' }], /an absolute path/],
    ['a Windows drive path', () => [nm, { path: 'C:/x', body: 'pwned' }], /an absolute path/],
    [
      'a link to /etc followed by a file through it',
      () => [nm, { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: '/etc' }, { path: `node_modules/evil/${stray}`, body: 'pwned' }],
      /a symbolic link to the absolute path \/etc[\s\S]*would be written through node_modules\/evil/,
    ],
    [
      'a link outside followed by a file through it',
      (o) => [nm, { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: o }, { path: 'node_modules/evil/canary.txt', body: 'pwned' }],
      /would be written through node_modules\/evil, which the archive made a symbolic link/,
    ],
    ['a relative link climbing out', () => [nm, { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: '../../outside' }], /outside the directory/],
    [
      'a link that climbs after a name (through another link)',
      () => [nm, { path: 'node_modules/up', type: 'SymbolicLink', linkpath: '..' }, { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: 'up/../outside' }],
      /climbs \('\.\.'\) after a name/,
    ],
    [
      'a link inside the target followed by a write through it',
      () => [nm, { path: 'node_modules/sub/', type: 'Directory' }, { path: 'node_modules/alias', type: 'SymbolicLink', linkpath: 'sub' }, { path: 'node_modules/alias/x', body: 'x' }],
      /would be written through node_modules\/alias/,
    ],
    ['a hard link to /etc/passwd', () => [nm, { path: 'node_modules/passwd', type: 'Link', linkpath: '/etc/passwd' }], /a hard link to "\/etc\/passwd": an absolute path/],
    ['a hard link climbing out', () => [nm, { path: 'node_modules/canary', type: 'Link', linkpath: '../outside/canary.txt' }], /a '\.\.' path segment/],
    [
      'a hard link to a file on disk that the archive does not hold',
      () => [nm, { path: 'node_modules/pkg', type: 'Link', linkpath: 'package.json' }],
      /a hard link to package\.json, which is not a file earlier in the archive/,
    ],
    [
      'a file replaced by a link',
      () => [nm, { path: 'node_modules/a', body: 'a' }, { path: 'node_modules/a', type: 'SymbolicLink', linkpath: 'b' }],
      /appears twice \(first as a file\)/,
    ],
    ['an entry outside the restore paths', () => [nm, { path: 'package.json', body: '{"scripts":{"postinstall":"pwn"}}' }], /outside the restore paths/],
    ['an entry whose directory is not in the archive', () => [nm, { path: 'node_modules/deep/x.js', body: 'x' }], /its directory node_modules\/deep is not in the archive before it/],
    ['the target directory itself', () => [{ path: './', type: 'Directory', mode: 0o777 }, nm], /an empty or "\." path segment/],
  ];

  it.each(cases)('is refused whole when it holds %s, writing nothing inside or outside the target', async (_name, entries, message) => {
    const file = join(sandbox, 'poison.tar.gz');
    await writeFile(file, craft(entries(outside)));
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveRefused);
    expect((error as Error).message).toMatch(message);
    expect(await readdir(target)).toEqual(['package.json']);
    expect(await readFile(join(target, 'package.json'), 'utf8')).toBe('{}');
    expect(await readdir(outside)).toEqual(['canary.txt']);
    expect(await readFile(join(outside, 'canary.txt'), 'utf8')).toBe('canary');
    expect((await stat(join(outside, 'canary.txt'))).nlink).toBe(1);
    await expect(lstat(`/tmp/${stray}`)).rejects.toThrow(/ENOENT/);
    await expect(lstat(`/etc/${stray}`)).rejects.toThrow(/ENOENT/);
  });

  it('lists every problem, not only the first', async () => {
    const file = join(sandbox, 'many.tar.gz');
    await writeFile(file, craft([nm, { path: '../a', body: 'a' }, { path: '/b', body: 'b' }, { path: 'node_modules/c', type: 'SymbolicLink', linkpath: '/' }]));
    await expect(extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) })).rejects.toThrow(/in 3 entries:\n {2}"\.\.\/a"[^\n]*\n {2}"\/b"[^\n]*\n {2}"node_modules\/c"/);
  });

  it('skips devices and FIFOs, strips set-user-ID bits, and restores the rest', async () => {
    const file = join(sandbox, 'special.tar.gz');
    await writeFile(
      file,
      craft([
        nm,
        { path: 'node_modules/fifo', type: 'FIFO' },
        { path: 'node_modules/tty', type: 'CharacterDevice' },
        { path: 'node_modules/suid', body: '#!/bin/sh\n', mode: 0o4755 },
      ]),
    );
    const restored = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) });
    expect(restored.skipped).toEqual(['node_modules/fifo: a FIFO, not restored', 'node_modules/tty: a device, not restored']);
    expect((await readdir(join(target, 'node_modules'))).sort()).toEqual(['suid']);
    expect((await stat(join(target, 'node_modules', 'suid'))).mode & 0o7777).toBe(0o755);
  });
});

describe('an archive whose bytes are not the ones recorded', () => {
  let file: string;
  let sha256: string;
  let target: string;
  beforeAll(async () => {
    file = join(work, 'genuine.tar.gz');
    await writeFile(file, craft([{ path: 'node_modules/', type: 'Directory' }, { path: 'node_modules/x.js', body: 'x' }]));
    sha256 = await sha256Of(file);
  });
  beforeEach(async () => {
    target = await mkdtemp(join(work, 'sha-'));
  });

  it('is refused before extraction when its sha256 is not the entry\'s, and nothing is written', async () => {
    await expect(extractArchive(file, { root: target, paths: ['node_modules'], sha256: '0'.repeat(64) })).rejects.toThrow(
      new RegExp(`the archive's sha256 is ${sha256}, but the gateway recorded 0{64}`),
    );
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused when one byte was changed after the entry was recorded', async () => {
    const bytes = await readFile(file);
    bytes[bytes.length - 10]! ^= 0xff;
    const tampered = join(work, 'tampered.tar.gz');
    await writeFile(tampered, bytes);
    await expect(extractArchive(tampered, { root: target, paths: ['node_modules'], sha256 })).rejects.toThrow(ArchiveRefused);
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused when it is not gzip, even with a matching sha256', async () => {
    const plain = join(work, 'plain.txt');
    await writeFile(plain, 'not an archive');
    await expect(extractArchive(plain, { root: target, paths: ['node_modules'], sha256: await sha256Of(plain) })).rejects.toThrow(/not a gzip-compressed tar/);
  });

  it('is refused when it is cut short, and nothing is written although its first entries were intact', async () => {
    const bytes = await readFile(file);
    const cut = join(work, 'cut.tar.gz');
    await writeFile(cut, bytes.subarray(0, bytes.length - 8));
    await expect(extractArchive(cut, { root: target, paths: ['node_modules'], sha256: await sha256Of(cut) })).rejects.toThrow(/the archive is damaged/);
    expect(await readdir(target)).toEqual([]);
  });
});

describe('cache link and path rules', () => {
  it.each([
    ['node_modules/.bin/tool', '../tool/bin/cli.js', undefined],
    ['node_modules/foo', '.pnpm/foo@1.0.0/node_modules/foo', undefined],
    ['node_modules/.pnpm/a@1/node_modules/b', '../../b@2/node_modules/b', undefined],
    ['node_modules/x', '..', undefined],
    ['node_modules/x', '../..', /outside the directory/],
    ['x', '../sibling', /outside the directory/],
    ['node_modules/x', '/etc', /absolute path/],
    ['node_modules/x', 'a/../../..', /climbs/],
    ['node_modules/x', '', /empty target/],
  ])('a link at %s to %j: %s', (path, target, problem) => {
    const result = linkProblem(path, target);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toMatch(problem);
  });

  it('keeps cache paths relative to the directory, inside it, without duplicates or nesting', () => {
    expect(cachePaths(['node_modules', './node_modules/', '/w/node_modules/x', '/w/.cache/pip', 'a/../b'], '/w')).toEqual(['.cache/pip', 'b', 'node_modules']);
    expect(cachePaths(['.', 'node_modules'], '/w')).toEqual(['']);
    expect(() => cachePaths(['../x'], '/w')).toThrow(UsageError);
    expect(() => cachePaths(['/etc'], '/w')).toThrow(/outside \/w/);
    expect(() => cachePaths([], '/w')).toThrow(/at least one path/);
  });

  it('checks keys with the gateway\'s rules, naming the option', () => {
    expect(cacheKey('npm-e\u0301', 'key')).toBe('npm-\u00e9'); // NFC, as the gateway stores it
    expect(() => cacheKey('a,b', 'key')).toThrow(/'--key': cache key contains a comma/);
    expect(() => cacheKey('x'.repeat(513), 'key')).toThrow(/limit is 512/);
    expect(() => cacheKey('a/../b', 'key')).toThrow(UsageError);
    expect(cacheKey('npm-linux/', 'restore-keys', true)).toBe('npm-linux/');
  });
});
