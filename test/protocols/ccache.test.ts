/**
 * ccache against the gateway's HTTP remote storage, as a job runs it: `ccache gcc -c hello.c`
 * with CCACHE_REMOTE_STORAGE naming the gateway and the job token, each run on a clean checkout
 * with an empty CCACHE_DIR (an empty local cache), so a hit can only come from the gateway. What
 * ccache did is read from its own counters (`ccache --print-stats`).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DRIVERS } from '../support/drivers';
import { basic, bearer, MAX_BYTES, runOnCheckout, truncatedPut, untrustedThenTwice, useProtocolGateway } from './support';

const FIXTURE = resolve(__dirname, 'fixtures/ccache');
const RUN_MS = 60_000;
// a ccache key: 4 hex digits, then base32hex (ccache's Digest::to_string)
const KEY = '3fa1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p';
const subdirs = (key: string) => `/cache/ccache/${key.slice(0, 2)}/${key.slice(2)}`;

describe.each(DRIVERS)('ccache HTTP remote storage (%s driver)', (driver) => {
  const suite = useProtocolGateway(driver);
  let runs = 0;

  /** One compilation with an empty local cache: the output, the object file and ccache's counters. */
  async function ccache(remoteStorage: string): Promise<{ out: string; object: Buffer; stats: Record<string, number> }> {
    const env = {
      CCACHE_DIR: join(suite.work, `ccache-dir-${++runs}`),
      // no system or user configuration: only what a job sets
      CCACHE_CONFIGPATH: join(suite.work, 'no-ccache.conf'),
      CCACHE_REMOTE_STORAGE: remoteStorage,
    };
    const { out, dir } = await runOnCheckout(FIXTURE, suite.work, 'ccache', ['gcc', '-c', 'hello.c', '-o', 'hello.o'], env, RUN_MS);
    const printed = await promisify(execFile)('ccache', ['--print-stats'], { env: { PATH: process.env.PATH ?? '', ...env } });
    const stats = Object.fromEntries(
      printed.stdout
        .split('\n')
        .map((line) => line.split('\t') as [string, string])
        .map(([k, v]) => [k, Number(v)]),
    );
    return { out, object: await readFile(join(dir, 'hello.o')), stats };
  }
  const withBearer = (token: string, attributes = '') => `${suite.gw.url}/cache/ccache|bearer-token=${token}${attributes}`;
  const withBasic = (token: string) => `http://ci:${token}@localhost:${suite.gw.port}/cache/ccache`;
  const counted = (result: string) => suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'ccache', result });

  it(
    'misses and uploads, then hits remotely with an empty local cache; an untrusted upload is never hit by a trusted run',
    async () => {
      const { pr, first, second } = await untrustedThenTwice(suite.gw, (token) => ccache(withBearer(token)));
      expect(pr.stats).toMatchObject({ remote_storage_miss: 1, remote_storage_write: 2 });
      // the pull request's manifest and result are in its own scope: the trusted job compiles
      expect(first.stats).toMatchObject({ remote_storage_hit: 0, remote_storage_miss: 1, remote_storage_write: 2, remote_storage_error: 0 });
      expect(second.stats).toMatchObject({ remote_storage_hit: 1, remote_storage_miss: 0, remote_storage_error: 0, cache_miss: 0 });
      expect(second.object).toEqual(first.object);
      // each compilation reads a manifest and a result: two misses a miss, two hits a hit
      expect(await counted('miss')).toBe(4);
      expect(await counted('stored')).toBe(4);
      expect(await counted('hit')).toBe(2);
      expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'ccache', direction: 'up' })).toBeGreaterThan(0);
      expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'ccache', direction: 'down' })).toBeGreaterThan(0);
      // the token as the password of the URL (HTTP Basic) is the same job, and layout=flat names the same entries
      const viaBasic = await ccache(withBasic(suite.gw.tokens.trusted));
      expect(viaBasic.stats).toMatchObject({ remote_storage_hit: 1, remote_storage_error: 0 });
      const flat = await ccache(withBearer(suite.gw.tokens.trusted, '|layout=flat'));
      expect(flat.stats).toMatchObject({ remote_storage_hit: 1, remote_storage_error: 0 });
      // layout=bazel names its keys ac/<64 hex>: other entries, which then hit as well
      const bazel = await ccache(withBearer(suite.gw.tokens.trusted, '|layout=bazel'));
      expect(bazel.stats).toMatchObject({ remote_storage_hit: 0, remote_storage_write: 2, remote_storage_error: 0 });
      const bazelAgain = await ccache(withBearer(suite.gw.tokens.trusted, '|layout=bazel'));
      expect(bazelAgain.stats).toMatchObject({ remote_storage_hit: 1, remote_storage_error: 0 });
      expect(bazelAgain.object).toEqual(first.object);
    },
    8 * RUN_MS,
  );

  it('answers a duplicate upload with 200 and keeps the first; HEAD says whether a key is stored without counting a hit or a miss', async () => {
    const path = subdirs(KEY);
    const put = (body: string) => suite.gw.api({ method: 'PUT', path, headers: { ...bearer(suite.gw.tokens.trusted), 'content-length': body.length }, body });
    expect((await put('first')).status).toBe(200);
    expect((await put('other')).status).toBe(200);
    expect((await suite.gw.api({ path, headers: bearer(suite.gw.tokens.trusted) })).text).toBe('first');
    // the same entry on ccache's flat layout, and with the token as HTTP Basic
    expect((await suite.gw.api({ path: `/cache/ccache/${KEY}`, headers: basic(suite.gw.tokens.trusted) })).text).toBe('first');
    const [hits, misses] = [await counted('hit'), await counted('miss')];
    const head = await suite.gw.api({ method: 'HEAD', path, headers: bearer(suite.gw.tokens.trusted) });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, '5', 0]);
    expect((await suite.gw.api({ method: 'HEAD', path: subdirs(`${KEY}x`), headers: bearer(suite.gw.tokens.trusted) })).status).toBe(404);
    expect([await counted('hit'), await counted('miss')]).toEqual([hits, misses]);
  });

  it('answers a removal with 204 and removes nothing; it needs a token that may write', async () => {
    const key = `${KEY}d`;
    const body = 'kept';
    await suite.gw.api({ method: 'PUT', path: subdirs(key), headers: { ...bearer(suite.gw.tokens.trusted), 'content-length': body.length }, body });
    expect((await suite.gw.api({ method: 'DELETE', path: subdirs(key), headers: bearer(suite.gw.tokens.trusted) })).status).toBe(204);
    expect((await suite.gw.api({ method: 'DELETE', path: `/cache/ccache/${key}`, headers: bearer(suite.gw.tokens.untrusted) })).status).toBe(204);
    expect((await suite.gw.api({ method: 'DELETE', path: subdirs(key), headers: bearer(suite.gw.tokens.readOnly) })).status).toBe(403);
    expect((await suite.gw.api({ method: 'DELETE', path: subdirs(key) })).status).toBe(401);
    expect((await suite.gw.api({ path: subdirs(key), headers: bearer(suite.gw.tokens.trusted) })).text).toBe(body);
  });

  it("keeps a project's entries from another project's token, and an untrusted upload from trusted jobs", async () => {
    const mine = subdirs(`${KEY}m`);
    const body = 'an object file of acme';
    await suite.gw.api({ method: 'PUT', path: mine, headers: { ...bearer(suite.gw.tokens.trusted), 'content-length': body.length }, body });
    expect((await suite.gw.api({ path: mine, headers: bearer(suite.gw.tokens.trusted) })).text).toBe(body);
    expect((await suite.gw.api({ path: mine, headers: bearer(suite.gw.tokens.otherProject) })).status).toBe(404);
    const poisoned = subdirs(`${KEY}p`);
    await suite.gw.api({ method: 'PUT', path: poisoned, headers: { ...bearer(suite.gw.tokens.untrusted), 'content-length': 8 }, body: 'poisoned' });
    expect((await suite.gw.api({ path: poisoned, headers: bearer(suite.gw.tokens.untrusted) })).text).toBe('poisoned');
    expect((await suite.gw.api({ path: poisoned, headers: bearer(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['no token', {}, 401],
    ['a forged token', { authorization: 'Bearer a.b.c' }, 401],
    ['a forged token as HTTP Basic', basic('a.b.c'), 401],
    ['a read-only token', 'readOnly', 403],
  ])('refuses an upload with %s, and nothing is stored', async (_what, who, status) => {
    const headers = typeof who === 'string' ? bearer(suite.gw.tokens.readOnly) : who;
    const path = subdirs(`${KEY}r${status}${Object.keys(headers).length}`);
    expect((await suite.gw.api({ method: 'PUT', path, headers: { ...headers, 'content-length': 2 }, body: 'no' })).status).toBe(status);
    expect((await suite.gw.api({ path, headers: bearer(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['upper-case letters', '/cache/ccache/3F/A1B2'],
    ['a first segment that is not two characters', '/cache/ccache/3fa/1b2c3'],
    ['fewer than 3 characters', '/cache/ccache/3f'],
    ['more than 128 characters', subdirs('a'.repeat(129))],
    ['punctuation', '/cache/ccache/3f/a1-b2'],
  ])('refuses a key with %s (400, saying what a key is)', async (_what, path) => {
    const res = await suite.gw.api({ path, headers: bearer(suite.gw.tokens.trusted) });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_key', message: expect.stringMatching(/ccache keys are 3-128 lower-case letters or digits/) });
  });

  it('refuses an oversize upload before reading it, and a truncated one leaves nothing visible', async () => {
    const big = await suite.gw.api({
      method: 'PUT',
      path: subdirs(`${KEY}big`),
      headers: { ...bearer(suite.gw.tokens.trusted), 'content-length': MAX_BYTES + 1 },
    });
    expect(big.status).toBe(413);
    await truncatedPut(suite.gw.port, subdirs(`${KEY}cut`), bearer(suite.gw.tokens.trusted), 4096);
    expect((await suite.gw.api({ path: subdirs(`${KEY}cut`), headers: bearer(suite.gw.tokens.trusted) })).status).toBe(404);
  });
});
