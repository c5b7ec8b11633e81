/**
 * `artifact-gateway delete`, `pin`, `unpin` and `upload --expire-in`, run as built against a real
 * gateway on each driver (fs, and the s3 driver on the test radosgw).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../../src/storage/s3/client';
import { loadConfig, type Config } from '../../src/config';
import { runCli, startGateway, type Gateway } from '../support/cli';
import { DRIVERS, emptyAndDeleteBucket, s3Env } from '../support/drivers';

const SECRET = 'delete-pin-test-secret-0123456789abcdef01234567';
const PROJECT = 'acme/web';

describe.each(DRIVERS)('artifact-gateway delete, pin, unpin and upload --expire-in on the %s driver', (driver) => {
  let gw: Gateway;
  let work: string;
  let writer: (build: string) => Promise<string>;
  let admin: string;
  const buckets = { ARTIFACTS_BUCKET: `agw-cli-artifacts-${randomBytes(4).toString('hex')}`, CACHE_BUCKET: `agw-cli-cache-${randomBytes(4).toString('hex')}` };

  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET, ...(driver === 's3' ? { ...s3Env(), ...buckets, S3_CREATE_BUCKETS: 'true' } : {}) });
    writer = async (build) => (await runCli(['token', '--project', PROJECT, '--build', build], gw.env)).stdout.trim();
    admin = (await runCli(['token', '--project', PROJECT, '--build', 'admin', '--scope', 'artifacts:read,artifacts:delete'], gw.env)).stdout.trim();
    work = await mkdtemp(join(tmpdir(), 'agw-delete-'));
    await mkdir(join(work, 'site', 'report'), { recursive: true });
    await writeFile(join(work, 'site', 'report', 'index.html'), '<h1>r</h1>');
    await writeFile(join(work, 'site', 'report', 'app.js'), 'x()');
    await writeFile(join(work, 'site', 'junit.xml'), '<testsuites/>');
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    if (driver === 's3') {
      const config: Config = loadConfig({ ...s3Env(), ...buckets, SIGNING_SECRET: SECRET });
      const client = createS3Client(config.storage as Extract<Config['storage'], { driver: 's3' }>);
      await emptyAndDeleteBucket(client, buckets.ARTIFACTS_BUCKET);
      await emptyAndDeleteBucket(client, buckets.CACHE_BUCKET);
      client.destroy();
    }
  });

  const env = (token: string) => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token });
  const upload = async (build: string, ...more: string[]) =>
    runCli(['upload', '--project', PROJECT, '--build', build, ...more, join(work, 'site')], env(await writer(build)));
  const list = async (build: string) => {
    const res = await fetch(`${gw.url}/api/v1/projects/acme%2Fweb/builds/${build}/artifacts`, { headers: { authorization: `Bearer ${admin}` } });
    return ((await res.json()) as { items: Array<{ path: string; expiresAt?: string | null }> }).items;
  };

  it('deletes a directory, then a file, then the whole build, saying what it freed', async () => {
    expect((await upload('1')).code).toBe(0);
    const dir = await runCli(['delete', '--project', PROJECT, '--build', '1', '--path', 'report/'], env(admin));
    expect(dir.stderr).toContain('acme/web: deleted report/ of build 1: 2 files, 13 B freed');
    expect(dir.code).toBe(0);
    expect((await list('1')).map((i) => i.path)).toEqual(['junit.xml']);
    const whole = await runCli(['delete', '--project', PROJECT, '--build', '1'], env(admin));
    expect(whole.stderr).toContain('acme/web: deleted build 1: 1 file, 13 B freed');
    expect(whole.code).toBe(0);
    expect(await list('1')).toEqual([]);
  });

  it('exits 1 saying why when there is nothing to delete, or the token lacks artifacts:delete', async () => {
    const nothing = await runCli(['delete', '--project', PROJECT, '--build', '404'], env(admin));
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/FAILED to delete the build: .*404/);
    expect((await upload('2')).code).toBe(0);
    const refused = await runCli(['delete', '--project', PROJECT, '--build', '2', '--path', 'junit.xml'], env(await writer('2')));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/artifacts:delete/);
    expect((await list('2')).map((i) => i.path)).toContain('junit.xml');
  });

  it.each([['../x'], ['/abs'], ['a//b'], ['a\\b']])('refuses --path %j with exit 2 before sending anything', async (path) => {
    const r = await runCli(['delete', '--project', PROJECT, '--build', '2', '--path', path], env(admin));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--path');
  });

  it('pins a build with the job token of that build, and unpins it with artifacts:delete', async () => {
    expect((await upload('3')).code).toBe(0);
    const pinned = await runCli(['pin', '--project', PROJECT, '--build', '3'], env(await writer('3')));
    expect(pinned.stderr).toContain('acme/web build 3: pinned');
    expect(pinned.code).toBe(0);
    const builds = async () =>
      (
        (await (await fetch(`${gw.url}/api/v1/projects/acme%2Fweb/builds`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
          items: Array<{ build: string; pinned: boolean }>;
        }
      ).items;
    expect((await builds()).find((b) => b.build === '3')?.pinned).toBe(true);
    const refused = await runCli(['unpin', '--project', PROJECT, '--build', '3'], env(await writer('3')));
    expect(refused.code).toBe(1);
    const unpinned = await runCli(['unpin', '--project', PROJECT, '--build', '3'], env(admin));
    expect(unpinned.code).toBe(0);
    expect((await builds()).find((b) => b.build === '3')?.pinned).toBe(false);
  });

  it('uploads with --expire-in, as a bundle and file by file, and refuses a duration it cannot read with exit 2', async () => {
    const before = Date.now();
    expect((await upload('4', '--expire-in', '3 days')).code).toBe(0);
    expect((await upload('5', '--expire-in', 'never', '--no-bundle')).code).toBe(0);
    for (const item of await list('4')) {
      expect(Date.parse(item.expiresAt!) - before).toBeGreaterThanOrEqual(3 * 86_400_000);
      expect(Date.parse(item.expiresAt!) - before).toBeLessThan(3 * 86_400_000 + 60_000);
    }
    expect((await list('5')).map((i) => i.expiresAt)).toEqual([null, null, null]);
    const bad = await upload('6', '--expire-in', '3 days banana');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expire-in\' got "3 days banana" is not a duration');
  });
});
