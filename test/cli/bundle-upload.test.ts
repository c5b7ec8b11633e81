/**
 * `artifact-gateway upload` of a directory, run as built against a real gateway: one bundle, one
 * request, all or nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startGateway, type Gateway } from '../support/cli';

const SECRET = 'bundle-upload-test-secret-0123456789abcdef0123';
const PROJECT = 'acme/web';
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

interface Listed {
  path: string;
  size: number;
  sha256: string;
}

describe('artifact-gateway upload of a directory, as one bundle', () => {
  let gw: Gateway;
  let work: string;
  let tree: string;
  const tokens: Record<string, string> = {};
  const env = (build: string) => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: tokens[build] });
  const contents = (i: number) => `<testcase name="t${i}"/>\n`.repeat(i % 20);
  /** Access-log lines of requests to one build's artifacts. */
  const requestsTo = (build: string) =>
    gw
      .logs()
      .split('\n')
      .filter((l) => l.includes(`/builds/${build}/artifacts`) && /"(method|req)"/.test(l));

  const list = async (build: string): Promise<Listed[]> => {
    const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/${build}/artifacts?pageSize=1000`, {
      headers: { authorization: `Bearer ${tokens[build]}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: Listed[] }).items;
  };

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    for (const build of ['1', '2']) {
      const r = await runCli(['token', '--project', PROJECT, '--build', build], gw.env);
      expect(r.code).toBe(0);
      tokens[build] = r.stdout.trim();
    }
    work = await mkdtemp(join(tmpdir(), 'agw-bundle-'));
    tree = join(work, 'junit');
    for (let d = 0; d < 5; d++) await mkdir(join(tree, `suite-${d}`), { recursive: true });
    for (let i = 0; i < 500; i++) await writeFile(join(tree, `suite-${i % 5}`, `TEST-${i}.xml`), contents(i));
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('sends the 500 files in one request, says so, and the build then lists each with its sha256', async () => {
    const before = requestsTo('1').length;
    const r = await runCli(['upload', '--project', PROJECT, '--build', '1', '--prefix', 'reports', tree], env('1'));
    expect(r.stderr).toMatch(/acme\/web build 1: uploaded 500 files \([\d.]+ KiB\) in one bundle \(500 new, 0 unchanged\)/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^http:\/\/acme-web-[a-z2-7]{16}\.localhost:\d+\/1\/\n$/);
    const sent = requestsTo('1').slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('POST');
    const got = await list('1');
    expect(got).toHaveLength(500);
    const byPath = new Map(got.map((i) => [i.path, i]));
    for (const i of [0, 7, 499]) {
      expect(byPath.get(`reports/suite-${i % 5}/TEST-${i}.xml`)).toMatchObject({ size: contents(i).length, sha256: sha(contents(i)) });
    }
  });

  it('counts every file unchanged on a second run', async () => {
    const r = await runCli(['upload', '--project', PROJECT, '--build', '1', '--prefix', 'reports', tree], env('1'));
    expect(r.stderr).toContain('uploaded 500 files');
    expect(r.stderr).toContain('(0 new, 500 unchanged)');
    expect(r.code).toBe(0);
  });

  it('exits 1 when one file conflicts, naming it, and none of the bundle is in the build', async () => {
    const other = join(work, 'other');
    await mkdir(join(other, 'suite-0'), { recursive: true });
    await writeFile(join(other, 'suite-0', 'TEST-0.xml'), 'other bytes');
    const up = await runCli(['upload', '--project', PROJECT, '--build', '2', '--prefix', 'reports', other], env('2'));
    expect(up.code).toBe(0);
    const r = await runCli(['upload', '--project', PROJECT, '--build', '2', '--prefix', 'reports', tree], env('2'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED to upload 500 files .* in one bundle, and none of them is in the build: .*reports\/suite-0\/TEST-0\.xml already exists/);
    expect((await list('2')).map((i) => i.path)).toEqual(['reports/suite-0/TEST-0.xml']);
  });

  it('sends one request per file with --no-bundle', async () => {
    const small = join(work, 'small');
    await mkdir(small, { recursive: true });
    for (let i = 0; i < 3; i++) await writeFile(join(small, `f${i}.txt`), `f${i}`);
    const before = requestsTo('2').length;
    const r = await runCli(['upload', '--no-bundle', '--project', PROJECT, '--build', '2', '--prefix', 'small', small], env('2'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('3 uploaded, 0 unchanged, 0 failed');
    expect(
      requestsTo('2')
        .slice(before)
        .filter((l) => l.includes('PUT')),
    ).toHaveLength(3);
  });
});
