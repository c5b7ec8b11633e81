/**
 * `artifact-gateway download`, run as built against a real gateway (fs driver: its signed blob
 * URLs): round trip, resume after an interrupted run, damaged files fetched again, exit codes.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { runCli, spawnCli, startGateway, waitFor, type Gateway } from '../support/cli';

const SECRET = 'download-test-secret-0123456789abcdef01234567';
const PROJECT = 'acme/web';

/** Every regular file under `dir`, relative path -> sha256. */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out.set(
      relative(dir, full).split(sep).join('/'),
      createHash('sha256')
        .update(await readFile(full))
        .digest('hex'),
    );
  }
  return out;
}

describe('artifact-gateway download', () => {
  let gw: Gateway;
  let work: string;
  let src: string;
  let token: string;
  const env = () => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token });
  const args = (dest: string, ...more: string[]) => ['download', '--project', PROJECT, '--build', '1', ...more, dest];

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    const r = await runCli(['token', '--project', PROJECT, '--build', '1'], gw.env);
    token = r.stdout.trim();
    work = await mkdtemp(join(tmpdir(), 'agw-download-'));
    src = join(work, 'src');
    await mkdir(join(src, 'html', 'deep'), { recursive: true });
    for (let i = 0; i < 150; i++) await writeFile(join(src, 'html', `page-${i}.html`), `<p>${i}</p>`.repeat(i));
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    await writeFile(join(src, 'html', 'deep', 'big.bin'), big);
    await writeFile(join(src, 'summary.txt'), 'ok\n');
    const up = await runCli(['upload', '--project', PROJECT, '--build', '1', src], env());
    expect(up.code).toBe(0);
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('downloads the whole build byte-identical, and a second run finds every file unchanged', async () => {
    const dest = join(work, 'all');
    const r = await runCli(args(dest), env());
    expect(r.stderr).toContain('152 files: 152 downloaded, 0 unchanged, 0 failed');
    expect(r.code).toBe(0);
    expect(await tree(dest)).toEqual(await tree(src));
    const again = await runCli(args(dest), env());
    expect(again.stderr).toContain('152 files: 0 downloaded, 152 unchanged, 0 failed');
    expect(again.code).toBe(0);
  });

  it('downloads only a directory with --prefix, relative to it', async () => {
    const dest = join(work, 'deep');
    const r = await runCli(args(dest, '--prefix', 'html/deep'), env());
    expect(r.code).toBe(0);
    expect([...(await tree(dest)).keys()]).toEqual(['big.bin']);
  });

  it('resumes a run killed halfway, and fetches again a file damaged on disk', async () => {
    const dest = join(work, 'resumed');
    const run = spawnCli(args(dest, '--concurrency', '1'), env());
    await waitFor(() => (run.stderr().match(/^downloaded /gm) ?? []).length >= 20, 'twenty files downloaded');
    run.child.kill('SIGKILL');
    await run.exit;
    const first = (run.stderr().match(/^downloaded /gm) ?? []).length;
    expect(first).toBeLessThan(152);
    await writeFile(join(dest, 'summary.txt'), 'tampered\n').catch(() => undefined);
    const r = await runCli(args(dest), env());
    expect(r.code).toBe(0);
    const m = /152 files: (\d+) downloaded, (\d+) unchanged, 0 failed/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(first - 1);
    expect(r.stderr).toMatch(/^downloaded summary\.txt/m);
    expect(await tree(dest)).toEqual(await tree(src));
    const leftovers = (await readdir(dest, { recursive: true })).filter((n) => String(n).endsWith('.agw-partial'));
    expect(leftovers).toEqual([]);
  });

  it('fetches again a file truncated on disk (same name, wrong bytes)', async () => {
    const dest = join(work, 'all');
    await truncate(join(dest, 'html', 'deep', 'big.bin'), 1000);
    const r = await runCli(args(dest), env());
    expect(r.stderr).toContain('152 files: 1 downloaded, 151 unchanged, 0 failed');
    expect(r.code).toBe(0);
    expect(await tree(dest)).toEqual(await tree(src));
  });

  it('refuses to write through a symbolic link in the destination, and exits 1', async () => {
    const dest = join(work, 'linked');
    const elsewhere = join(work, 'elsewhere');
    await mkdir(dest, { recursive: true });
    await mkdir(elsewhere, { recursive: true });
    await symlink(elsewhere, join(dest, 'html'));
    const r = await runCli(args(dest), env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED +html\/page-1\.html: refused to write html\/page-1\.html: .*html is a symbolic link/);
    expect(r.stderr).toContain('151 failed');
    expect(await readdir(elsewhere)).toEqual([]);
    expect((await lstat(join(dest, 'summary.txt'))).isFile()).toBe(true);
  });

  it('exits 1 for a directory the build does not have, and for a refused token; 2 for a bad command line', async () => {
    const none = await runCli(args(join(work, 'none'), '--prefix', 'nope'), env());
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no files under nope/');
    const refused = await runCli(args(join(work, 'none')), { ...env(), ARTIFACT_GATEWAY_TOKEN: `${token.slice(0, -4)}AAAA` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/listing the build: .*401/);
    const bad = await runCli(args(join(work, 'none'), '--prefix', '../x'), env());
    expect(bad.code).toBe(2);
    const two = await runCli([...args(join(work, 'a')), join(work, 'b')], env());
    expect(two.code).toBe(2);
  });
});
