/**
 * Cache archives without a gateway: a real tree through collect -> archive -> extract, and
 * hand-made poisoned archives that must be refused before a single byte is written.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ArchiveRefused, cachePaths, ExtractFailed, extractArchive, InvalidInput, type CollectedEntries, type Created } from '../../src/client';
import { PathIndex } from '../../src/client/archive/path-index';
import { linkProblem } from '../../src/client/archive/rules';
import { craft, freeze, pnpmTree, sha256Of, snapshot, unfreeze, type Crafted } from '../support/cache-archives';

const RSS_BOUND_MIB = 150;

/**
 * collectEntries + createArchive run by the BUILT code in a child process, as users run it: in
 * jest's sandbox, fs.Stats dates are not `instanceof` the sandbox's Date, and node-tar then
 * writes pax times as date strings (plain node writes seconds, as python's tarfile confirms).
 */
function archive(root: string, paths: string[], file: string): { collected: CollectedEntries; created: Created } {
  const script = `
    const { collectEntries, createArchive } = require(${JSON.stringify(resolve(__dirname, '../../dist/client/archive/create.js'))});
    (async () => {
      const collected = await collectEntries(process.argv[1], JSON.parse(process.argv[2]));
      const created = await createArchive(process.argv[1], collected.entries, process.argv[3]);
      process.stdout.write(JSON.stringify({ collected, created }));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, root, JSON.stringify(paths), file], { encoding: 'utf8' })) as {
    collected: CollectedEntries;
    created: Created;
  };
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
    // in the last half millisecond of a second: archived as the next whole second
    await writeFile(join(nm, 'tool', 'late.txt'), 'late');
    await utimes(join(nm, 'tool', 'late.txt'), 1577934245.9997, 1577934245.9997);
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
    const restored = await extractArchive(file, { root: dst, paths, sha256: created.sha256, expandedSize: created.expandedSize });
    expect(restored).toMatchObject({ files: collected.files });

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
    expect(got.get('node_modules/tool/late.txt')?.mtime).toBe(1577934246);
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
      () => [
        nm,
        { path: 'node_modules/up', type: 'SymbolicLink', linkpath: '..' },
        { path: 'node_modules/evil', type: 'SymbolicLink', linkpath: 'up/../outside' },
      ],
      /climbs \('\.\.'\) after a name/,
    ],
    [
      'a link inside the target followed by a write through it',
      () => [
        nm,
        { path: 'node_modules/sub/', type: 'Directory' },
        { path: 'node_modules/alias', type: 'SymbolicLink', linkpath: 'sub' },
        { path: 'node_modules/alias/x', body: 'x' },
      ],
      /would be written through node_modules\/alias/,
    ],
    [
      'a hard link to /etc/passwd',
      () => [nm, { path: 'node_modules/passwd', type: 'Link', linkpath: '/etc/passwd' }],
      /a hard link to "\/etc\/passwd": an absolute path/,
    ],
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
    [
      'an entry whose directory is not in the archive',
      () => [nm, { path: 'node_modules/deep/x.js', body: 'x' }],
      /its directory node_modules\/deep is not in the archive before it/,
    ],
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
    await expect(extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) })).rejects.toThrow(
      /in 3 entries:\n {2}"\.\.\/a"[^\n]*\n {2}"\/b"[^\n]*\n {2}"node_modules\/c"/,
    );
  });

  it('strips set-user-ID bits, and restores the rest', async () => {
    const file = join(sandbox, 'special.tar.gz');
    await writeFile(file, craft([nm, { path: 'node_modules/suid', body: '#!/bin/sh\n', mode: 0o4755 }]));
    await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) });
    expect((await readdir(join(target, 'node_modules'))).sort()).toEqual(['suid']);
    expect((await stat(join(target, 'node_modules', 'suid'))).mode & 0o7777).toBe(0o755);
  });

  // node-tar's parser drops the first four without a word, and its Unpack skips the others
  it.each([
    ['a GNU sparse file', { path: 'node_modules/sparse', flag: 'S', body: 'x' }, /"node_modules\/sparse": an entry of type SparseFile \('S'\)/],
    ['a tape volume header', { path: 'node_modules/volume', flag: 'V' }, /"node_modules\/volume": an entry of type TapeVolumeHeader \('V'\)/],
    ['a multi-volume continuation', { path: 'node_modules/part', flag: 'M', body: 'x' }, /"node_modules\/part": an entry of type ContinuationFile \('M'\)/],
    [
      'an entry of an unknown type',
      { path: 'node_modules/what', flag: 'Z', body: 'x' },
      /"node_modules\/what": an entry of unknown type \(a type flag tar does not define\)/,
    ],
    ['a character device', { path: 'node_modules/tty', type: 'CharacterDevice' }, /"node_modules\/tty": an entry of type CharacterDevice \('3'\)/],
    ['a block device', { path: 'node_modules/disk', type: 'BlockDevice' }, /"node_modules\/disk": an entry of type BlockDevice \('4'\)/],
    ['a FIFO', { path: 'node_modules/fifo', type: 'FIFO' }, /"node_modules\/fifo": an entry of type FIFO \('6'\)/],
  ] as [string, Crafted, RegExp][])('refuses an archive holding %s, naming it and its type, and writes nothing', async (_name, odd, message) => {
    const file = join(sandbox, 'odd.tar.gz');
    await writeFile(file, craft([nm, { path: 'node_modules/a.js', body: 'a' }, odd, { path: 'node_modules/z.js', body: 'z' }]));
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveRefused);
    expect((error as Error).message).toMatch(/breaks the rules of a cache in 1 entry/);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/which a cache does not hold/);
    expect(await readdir(target)).toEqual(['package.json']);
  });

  it('refuses a name over 255 bytes before writing anything, instead of failing half-way with ENAMETOOLONG', async () => {
    const file = join(sandbox, 'long-name.tar.gz');
    const name = 'n'.repeat(300);
    await writeFile(file, craft([nm, { path: 'node_modules/a.js', body: 'a' }, { path: `node_modules/${name}`, body: 'x' }]));
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveRefused);
    expect((error as Error).message).toMatch(/"node_modules\/n{300}": a name of 300 bytes \("n{24}"…\), over the 255 bytes a file name may have/);
    expect(await readdir(target)).toEqual(['package.json']);
  });

  it('refuses a path over the 4,095 bytes the system allows (counted under the target) before writing anything', async () => {
    const file = join(sandbox, 'long-path.tar.gz');
    const dirs: Crafted[] = [nm];
    let path = 'node_modules';
    for (let i = 0; i < 17; i++) {
      path += `/${String(i).padStart(3, '0')}${'d'.repeat(247)}`;
      dirs.push({ path: `${path}/`, type: 'Directory' });
    }
    dirs.push({ path: `${path}/x.js`, body: 'x' });
    await writeFile(file, craft(dirs));
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveRefused);
    // the first directory deep enough, and everything below it
    expect((error as Error).message).toMatch(
      /"node_modules\/000d+\/[^"]*": a path of \d+ bytes, \d+ with the directory it goes in, over the 4095 bytes a path may have/,
    );
    expect((error as Error).message).toMatch(/"node_modules\/[^"]*\/x\.js": a path of 4284 bytes/);
    expect(await readdir(target)).toEqual(['package.json']);
  });
});

describe('a pnpm-like node_modules: links through links', () => {
  it('restores chains of relative links to directories and files, and links inside linked directories, exactly', async () => {
    const src = join(work, 'pnpm-src');
    await pnpmTree(src);
    const file = join(work, 'pnpm.tar.gz');
    const paths = ['node_modules', 'packages'];
    const { collected, created } = archive(src, paths, file);
    expect(collected.skipped).toEqual([]);
    const dst = await mkdtemp(join(work, 'pnpm-dst-'));
    await extractArchive(file, { root: dst, paths, sha256: created.sha256, expandedSize: created.expandedSize });
    expect(await snapshot(dst)).toEqual(await snapshot(src));
    expect((await readdir(dst)).sort()).toEqual(paths); // no staging directory left
    // read through the chains: .bin/a -> ../a/bin/a.js, a -> .pnpm/…/a; a-main -> a-alias/index.js -> a -> …
    expect(await readFile(join(dst, 'node_modules/.bin/a'), 'utf8')).toBe('#!/usr/bin/env node\n');
    expect(await readFile(join(dst, 'node_modules/a-main'), 'utf8')).toBe('module.exports = "a";\n');
    expect(await readFile(join(dst, 'node_modules/a/node_modules-b-index.js'), 'utf8')).toBe('module.exports = "b";\n');
    expect(await readFile(join(dst, 'node_modules/@ws/app/package.json'), 'utf8')).toBe('{"name":"@ws/app"}');
  });
});

describe('a restore that fails while putting files in place', () => {
  let frozen: string | undefined;
  afterEach(() => {
    if (frozen) unfreeze(frozen);
    frozen = undefined;
  });

  it('takes back what it had moved: the target is as it was, and no staging directory is left', async () => {
    const src = join(work, 'move-src');
    await mkdir(join(src, 'node_modules', 'pkg'), { recursive: true });
    await writeFile(join(src, 'node_modules', 'a.js'), 'new a');
    await writeFile(join(src, 'node_modules', 'fresh.js'), 'new file');
    await mkdir(join(src, 'node_modules', 'new-dir'));
    await writeFile(join(src, 'node_modules', 'new-dir', 'x.js'), 'x');
    await writeFile(join(src, 'node_modules', 'pkg', 'new.js'), 'new in pkg');
    await writeFile(join(src, 'node_modules', 'z.js'), 'new z');
    const file = join(work, 'move.tar.gz');
    const { created } = archive(src, ['node_modules'], file);

    const dst = await mkdtemp(join(work, 'move-dst-'));
    await mkdir(join(dst, 'node_modules', 'pkg'), { recursive: true });
    await writeFile(join(dst, 'node_modules', 'a.js'), 'old a');
    await writeFile(join(dst, 'node_modules', 'pkg', 'old.js'), 'old in pkg');
    await writeFile(join(dst, 'node_modules', 'z.js'), 'old z');
    await writeFile(join(dst, 'keep.txt'), 'not in the cache');
    // pkg cannot be written in (immutable as root, read-only otherwise): the move of pkg/new.js fails
    frozen = join(dst, 'node_modules', 'pkg');
    freeze(frozen);
    const before = await snapshot(dst);

    const error = await extractArchive(file, { root: dst, paths: ['node_modules'], sha256: created.sha256 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExtractFailed);
    expect((error as ExtractFailed).unchanged).toBe(true);
    expect((error as Error).message).toMatch(
      /^putting the restored files in place failed at node_modules\/pkg\/new\.js: .*; what had been put in place was taken back: nothing was restored$/,
    );
    expect(await snapshot(dst)).toEqual(before);
    expect((await readdir(dst)).sort()).toEqual(['keep.txt', 'node_modules']);
  });
});

describe('what an archive expands to', () => {
  let target: string;
  beforeEach(async () => {
    target = await mkdtemp(join(work, 'expand-'));
  });
  // 64 MiB of zeros: a gzip of about 64 KiB
  const bomb = () =>
    craft([
      { path: 'node_modules/', type: 'Directory' },
      { path: 'node_modules/zeros', body: Buffer.alloc(64 * 1024 * 1024) },
    ]);

  it('is recorded by createArchive as the size of the uncompressed tar', async () => {
    const file = join(work, 'expanded.tar.gz');
    await pnpmTree(join(work, 'expanded-src'));
    const { created } = archive(join(work, 'expanded-src'), ['node_modules'], file);
    expect(created.expandedSize).toBe(gunzipSync(await readFile(file)).length);
  });

  it('is refused past the size recorded at save, stopping there, with nothing written', async () => {
    const file = join(work, 'bomb.tar.gz');
    await writeFile(file, bomb());
    expect((await stat(file)).size).toBeLessThan(1024 * 1024);
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file), expandedSize: 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArchiveRefused);
    expect((error as Error).message).toMatch(
      /the archive expands past 1\.0 MiB \(1048576 bytes\), the size recorded when it was saved: it is not the archive that was saved/,
    );
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused past --max-expanded-size while counting, for an entry saved without a recorded size', async () => {
    const file = join(work, 'bomb2.tar.gz');
    await writeFile(file, bomb());
    const error = await extractArchive(file, { root: target, paths: ['node_modules'], sha256: await sha256Of(file), maxExpandedSize: 8 * 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArchiveRefused);
    expect((error as Error).message).toMatch(/the archive expands past the --max-expanded-size limit of 8\.0 MiB \(8388608 bytes; \d+ bytes read so far\)/);
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused before the archive is read when the recorded size is over the limit or over the free space', async () => {
    const file = join(work, 'small.tar.gz');
    await writeFile(file, craft([{ path: 'node_modules/', type: 'Directory' }]));
    // a wrong sha256: the size is refused first, without reading the file
    await expect(extractArchive(file, { root: target, paths: ['node_modules'], sha256: '0'.repeat(64), expandedSize: 2 ** 40 })).rejects.toThrow(
      /the archive expands to 1\.0 TiB \(1099511627776 bytes, recorded when it was saved\), over the --max-expanded-size limit of 10\.0 GiB \(10737418240 bytes\)/,
    );
    await expect(
      extractArchive(file, { root: target, paths: ['node_modules'], sha256: '0'.repeat(64), expandedSize: 2 ** 50, maxExpandedSize: 2 ** 52 }),
    ).rejects.toThrow(/the archive expands to .* \(1125899906842624 bytes, recorded when it was saved\), more than the .* free on the target's file system/);
    expect(await readdir(target)).toEqual([]);
  });

  it('restores 50,000 tiny entries in flat memory (peak RSS of the restoring process)', async () => {
    const entries: Crafted[] = [{ path: 'node_modules/', type: 'Directory' }];
    for (let d = 0; d < 500; d++) {
      entries.push({ path: `node_modules/pkg-${d}/`, type: 'Directory' });
      for (let f = 0; f < 99; f++) entries.push({ path: `node_modules/pkg-${d}/file-${f}.js`, body: 'x' });
    }
    const file = join(work, 'many.tar.gz');
    await writeFile(file, craft(entries));
    // VmHWM, the peak RSS of this process's own memory: getrusage's maxRSS of a child also counts
    // the parent's RSS at fork (Linux carries it over exec), which would measure jest
    const script = `
      const { readFileSync } = require('node:fs');
      const { extractArchive } = require(${JSON.stringify(resolve(__dirname, '../../dist/client/archive/extract.js'))});
      extractArchive(process.argv[1], { root: process.argv[2], paths: ['node_modules'], sha256: process.argv[3] }).then(
        (r) => {
          const peakKiB = Number(/^VmHWM:\\s*(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
          process.stdout.write(JSON.stringify({ entries: r.entries, peakKiB }));
        },
        (err) => { console.error(err); process.exit(1); });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script, file, target, await sha256Of(file)], { encoding: 'utf8' })) as {
      entries: number;
      peakKiB: number;
    };
    expect(out.entries).toBe(50_001);
    expect((await readdir(join(target, 'node_modules'))).length).toBe(500);
    // about 95 MiB, reached early and flat after; before, with node-tar's own path reservations keeping every entry: 260 MiB
    expect(out.peakKiB / 1024).toBeLessThan(RSS_BOUND_MIB);
  }, 300_000);
});

describe('an archive whose bytes are not the ones recorded', () => {
  let file: string;
  let sha256: string;
  let target: string;
  beforeAll(async () => {
    file = join(work, 'genuine.tar.gz');
    await writeFile(
      file,
      craft([
        { path: 'node_modules/', type: 'Directory' },
        { path: 'node_modules/x.js', body: 'x' },
      ]),
    );
    sha256 = await sha256Of(file);
  });
  beforeEach(async () => {
    target = await mkdtemp(join(work, 'sha-'));
  });

  it("is refused before extraction when its sha256 is not the entry's, and nothing is written", async () => {
    await expect(extractArchive(file, { root: target, paths: ['node_modules'], sha256: '0'.repeat(64) })).rejects.toThrow(
      new RegExp(`the archive's sha256 is ${sha256}, but the gateway recorded 0{64}`),
    );
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused when one byte was changed after the entry was recorded', async () => {
    const bytes = await readFile(file);
    bytes[bytes.length - 10] ^= 0xff;
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

  it('indexes paths with their types in a hash table that grows, finding each and nothing else', () => {
    const index = new PathIndex();
    const types = ['Directory', 'File', 'SymbolicLink', 'Link'];
    for (let i = 0; i < 200_000; i++) index.set(`node_modules/pkg-${i % 997}/file-${i}.js`, types[i % 4]);
    index.set('node_modules/pkg-1/file-1.js', 'Directory'); // replaces, does not add
    expect(index.size).toBe(200_000);
    for (let i = 0; i < 200_000; i += 7) expect(index.get(`node_modules/pkg-${i % 997}/file-${i}.js`)).toBe(i === 1 ? 'Directory' : types[i % 4]);
    for (let i = 0; i < 20_000; i++) expect(index.has(`node_modules/pkg-${i % 997}/file-${i}.jsx`)).toBe(false);
    expect(index.get('')).toBeUndefined();
  });

  it('keeps cache paths relative to the directory, inside it, without duplicates or nesting', () => {
    expect(cachePaths(['node_modules', './node_modules/', '/w/node_modules/x', '/w/.cache/pip', 'a/../b'], '/w')).toEqual(['.cache/pip', 'b', 'node_modules']);
    expect(cachePaths(['.', 'node_modules'], '/w')).toEqual(['']);
    expect(() => cachePaths(['../x'], '/w')).toThrow(InvalidInput);
    expect(() => cachePaths(['/etc'], '/w')).toThrow(/outside \/w/);
    expect(() => cachePaths([], '/w')).toThrow(/at least one path/);
  });
});
