/**
 * `artifact-gateway cache list|delete|usage`, run as built, against a real gateway (`serve`) on
 * each driver: what they print, their exit statuses, and the scope rule as a pull request's token
 * meets it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startGateway, type Finished, type Gateway } from '../support/cli';
import { DRIVERS, s3Env } from '../support/drivers';

const SECRET = 'cache-admin-secret-0123456789abcdef0123456789ab';
const PROJECT = 'acme/admin';

describe.each(DRIVERS)('artifact-gateway cache list, delete and usage on the %s driver', (driver) => {
  let gw: Gateway;
  let work: string;
  const tokens: Record<string, string> = {};
  const env = (token: string) => ({ ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token });
  const cache = async (args: string[], token = tokens.main): Promise<Finished> => {
    const r = await runCli(['cache', ...args], env(token), work);
    // nothing any command printed may hold the token (or its signature, the secret part)
    for (const secret of [token, token.split('.')[2]]) expect(r.stdout + r.stderr).not.toContain(secret);
    return r;
  };
  const save = async (key: string, token = tokens.main) => {
    const r = await cache(['save', '--project', PROJECT, '--key', key, 'data'], token);
    expect(r.code).toBe(0);
  };
  /** The (key, scope) of each line `cache list` prints to a pipe. */
  const listed = async (args: string[] = [], token = tokens.main) => {
    const r = await cache(['list', '--project', PROJECT, ...args], token);
    expect(r.code).toBe(0);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t').slice(0, 2).join(' '));
  };

  beforeAll(async () => {
    const id = randomBytes(4).toString('hex');
    const storage = driver === 's3' ? { ...s3Env(), ARTIFACTS_BUCKET: `agw-cli-a-${id}`, CACHE_BUCKET: `agw-cli-c-${id}`, S3_CREATE_BUCKETS: 'true' } : {};
    gw = await startGateway({ SIGNING_SECRET: SECRET, CACHE_QUOTA_BYTES: String(1024 ** 3), ...storage });
    const mint = async (name: string, args: string[]) => {
      const r = await runCli(['token', '--project', PROJECT, '--build', '1', ...args], gw.env);
      expect(r.code).toBe(0);
      tokens[name] = r.stdout.trim();
    };
    await mint('main', ['--scope', 'cache:read,cache:write,cache:delete']);
    await mint('pr', ['--untrusted', '--branch', 'pull/7', '--base-branch', 'main', '--scope', 'cache:read,cache:write,cache:delete']);
    await mint('plain', []);
    work = await mkdtemp(join(tmpdir(), 'agw-cache-admin-'));
    await mkdir(join(work, 'data'));
    await writeFile(join(work, 'data', 'file.txt'), 'cached bytes\n');
    await save('npm-linux-1');
    await save('npm-linux-2');
    await save('go-1');
    await save('npm-linux-1', tokens.pr);
  });
  afterAll(async () => {
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists every entry to a pipe as tab-separated key, scope, size, created and last used, most recently used first', async () => {
    const r = await cache(['list', '--project', PROJECT]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split('\t').slice(0, 2).join(' '))).toEqual([
      'npm-linux-1 untrusted:pull/7',
      'go-1 branch:main',
      'npm-linux-2 branch:main',
      'npm-linux-1 branch:main',
    ]);
    const [, , size, created, used] = lines[1].split('\t');
    expect(size).toMatch(/^\d+ B$/);
    expect(Date.parse(created)).not.toBeNaN();
    expect(used).toBe(created);
  });

  it('filters by key prefix and scope, sorts, limits, and prints JSON', async () => {
    expect(await listed(['--key', 'npm-', '--scope', 'branch:main', '--sort', 'key'])).toEqual(['npm-linux-1 branch:main', 'npm-linux-2 branch:main']);
    expect(await listed(['--sort', 'key', '--order', 'desc', '--limit', '2'])).toEqual(['npm-linux-2 branch:main', 'npm-linux-1 untrusted:pull/7']);
    const r = await cache(['list', '--project', PROJECT, '--key', 'go-', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ key: 'go-1', scope: 'branch:main', size: expect.any(Number), lastUsedAt: expect.any(String) }),
    ]);
    const none = await cache(['list', '--project', PROJECT, '--key', 'nothing-']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('No cache entries match in acme/admin');
  });

  it('shows usage against the quota, per scope, and as JSON', async () => {
    const r = await cache(['usage', '--project', PROJECT]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^acme\/admin: 4 cache entries, \d+ B of the 1\.0 GiB quota \(0\.0%\); entries not restored for 7 days expire\n/);
    expect(r.stdout).toMatch(/^branch:main\t3\t\d+ B$/m);
    expect(r.stdout).toMatch(/^untrusted:pull\/7\t1\t\d+ B$/m);
    const json = JSON.parse((await cache(['usage', '--project', PROJECT, '--json'])).stdout);
    expect(json).toMatchObject({ quotaBytes: 1024 ** 3, ttlDays: 7, count: 4 });
  });

  it('keeps a pull request to its own scopes: it lists what it restores from, and cannot delete a trusted entry', async () => {
    expect(await listed(['--sort', 'key'], tokens.pr)).toEqual([
      'go-1 branch:main',
      'npm-linux-1 branch:main',
      'npm-linux-1 untrusted:pull/7',
      'npm-linux-2 branch:main',
    ]);
    const refused = await cache(['delete', '--project', PROJECT, '--all', '--scope', 'branch:main'], tokens.pr);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('may not delete cache entries of scope "branch:main"');
    const byKey = await cache(['delete', '--project', PROJECT, 'npm-linux-1', '--json'], tokens.pr);
    expect(byKey.code).toBe(0);
    expect(JSON.parse(byKey.stdout)).toMatchObject({ count: 1, deleted: [{ key: 'npm-linux-1', scope: 'untrusted:pull/7' }] });
    expect(await listed(['--sort', 'key'])).toEqual(['go-1 branch:main', 'npm-linux-1 branch:main', 'npm-linux-2 branch:main']);
  });

  it('deletes by key and by prefix: gone for restore at once; a key found nowhere exits 1', async () => {
    const r = await cache(['delete', '--project', PROJECT, 'npm-linux-2', '--scope', 'branch:main']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^deleted npm-linux-2 \(branch:main, \d+ B\)\n$/);
    expect(r.stderr).toMatch(/Deleted 1 cache entry \(\d+ B\) from acme\/admin/);
    const target = await mkdtemp(join(work, 'restore-'));
    const restore = await runCli(['cache', 'restore', '--project', PROJECT, '--key', 'npm-linux-2', 'data'], env(tokens.main), target);
    expect(restore.code).toBe(3); // a miss
    const missing = await cache(['delete', '--project', PROJECT, 'npm-linux-2']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no cache entry with key "npm-linux-2"');
    const prefix = await cache(['delete', '--project', PROJECT, '--prefix', 'npm-']);
    expect(prefix.code).toBe(0);
    expect(prefix.stderr).toContain('Deleted 1 cache entry');
    expect(await listed()).toEqual(['go-1 branch:main']);
    const nothing = await cache(['delete', '--project', PROJECT, '--prefix', 'npm-']);
    expect(nothing.code).toBe(0);
    expect(nothing.stderr).toContain('Deleted 0 cache entries');
  });

  it.each(['list', 'usage'])(
    "cache %s for a project the token is not for exits 1 with the gateway's refusal, and prints nothing on stdout",
    async (command) => {
      const r = await cache([command, '--project', 'someone/else']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^artifact-gateway cache ${command}: .*someone/else`, 'm'));
    },
  );

  it('needs a token with cache:delete to delete, and exits 1 naming the scope', async () => {
    const r = await cache(['delete', '--project', PROJECT, 'go-1'], tokens.plain);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lacks the cache:delete scope');
    expect(await listed()).toEqual(['go-1 branch:main']);
  });

  it.each([
    [['delete', '--project', PROJECT]],
    [['delete', '--project', PROJECT, 'a', '--all']],
    [['delete', '--project', PROJECT, 'a', 'b']],
    [['delete', '--project', PROJECT, '--prefix', 'a', '--all']],
    [['delete', '--project', PROJECT, '../escape']],
    [['delete', '--project', PROJECT, '--all', '--scope', 'main']],
    [['list', '--project', PROJECT, '--sort', 'name']],
    [['list', '--project', PROJECT, '--order', 'up']],
    [['list', '--project', PROJECT, '--limit', '0']],
    [['list', '--project', PROJECT, '--key', 'a,b']],
    [['list', '--project', '../x']],
    [['usage']],
    [['usage', '--project', PROJECT, 'extra']],
  ])('exits 2 on a bad command line: cache %j', async (args) => {
    const r = await cache(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Run 'artifact-gateway cache \w+ --help' for usage/);
    expect(await listed()).toEqual(['go-1 branch:main']);
  });
});
