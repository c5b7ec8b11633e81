/**
 * Bazel against the gateway's HTTP cache, as a job runs it: `bazel build
 * --remote_cache=<gateway>/cache/bazel --remote_header=Authorization=Bearer <job token>`, each
 * run on a clean checkout with a fresh output base (an empty local action cache). The Bazel
 * install base is shared between runs: it is the tool, not a cache.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DRIVERS } from '../support/drivers';
import { bearer as auth, MAX_BYTES, runOnCheckout, truncatedPut, untrustedThenTwice, useProtocolGateway } from './support';

const BAZEL = resolve(__dirname, '../../node_modules/@bazel/bazel-linux_x64/bazel-2.1.0-linux-x86_64');
const FIXTURE = resolve(__dirname, 'fixtures/bazel');
const RUN_MS = 240_000;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe.each(DRIVERS)('Bazel HTTP remote cache (%s driver)', (driver) => {
  const suite = useProtocolGateway(driver);
  let runs = 0;

  async function bazel(token: string): Promise<{ out: string; dir: string }> {
    const startup = ['--batch', `--output_user_root=${join(suite.work, 'root')}`, `--output_base=${join(suite.work, `out-${++runs}`)}`];
    const flags = [`--remote_cache=${suite.gw.url}/cache/bazel`, `--remote_header=Authorization=Bearer ${token}`];
    return runOnCheckout(FIXTURE, suite.work, BAZEL, [...startup, 'build', ...flags, '//pkg:hello'], { USER: 'ci' }, RUN_MS);
  }

  it(
    'misses and uploads, then hits remotely on a clean checkout; an untrusted run is never hit by a trusted one',
    async () => {
      const { pr, first, second } = await untrustedThenTwice(suite.gw, bazel);
      expect(pr.out).not.toMatch(/remote cache hit/);
      // the pull request's action result is in its own scope: the trusted job executes the action
      expect(first.out).not.toMatch(/remote cache hit/);
      expect(first.out).toMatch(/1 process: 1 (linux-sandbox|processwrapper-sandbox|local)/);
      expect(second.out).toMatch(/1 process: 1 remote cache hit/);
      expect(await readFile(join(second.dir, 'bazel-bin/pkg/hello.txt'), 'utf8')).toBe("the genrule's input\nbuilt\n");
      expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'bazel-ac', result: 'hit' })).toBe(1);
      expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'bazel-cas', direction: 'down' })).toBeGreaterThan(0);
    },
    3 * RUN_MS,
  );

  it('verifies a CAS blob against its sha256, serves it, and answers a duplicate with 200', async () => {
    const blob = Buffer.from('a content-addressed blob');
    const path = `/cache/bazel/cas/${sha256(blob)}`;
    const put = () => suite.gw.api({ method: 'PUT', path, headers: { ...auth(suite.gw.tokens.untrusted), 'content-length': blob.length }, body: blob });
    expect((await put()).status).toBe(200);
    expect((await put()).status).toBe(200);
    // content-addressed: what any job stored under its hash is those bytes, so every job reads it
    const get = await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) });
    expect(get.status).toBe(200);
    expect(get.body).toEqual(blob);
    expect(get.headers.location).toBeUndefined();
    const head = await suite.gw.api({ method: 'HEAD', path, headers: auth(suite.gw.tokens.trusted) });
    expect([head.status, head.headers['content-length']]).toEqual([200, String(blob.length)]);
  });

  it('refuses a CAS body that does not match its hash, and stores nothing', async () => {
    const path = `/cache/bazel/cas/${sha256('the real bytes')}`;
    const put = await suite.gw.api({ method: 'PUT', path, headers: { ...auth(suite.gw.tokens.trusted), 'content-length': 10 }, body: 'other byte' });
    expect(put.status).toBe(400);
    expect(put.json().error.code).toBe('digest_mismatch');
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it('keeps an untrusted action result away from trusted jobs, and answers misses with 404', async () => {
    const key = sha256('an action');
    const path = `/cache/bazel/ac/${key}`;
    const poisoned = Buffer.from('an action result pointing at a poisoned output');
    const put = await suite.gw.api({ method: 'PUT', path, headers: { ...auth(suite.gw.tokens.untrusted), 'content-length': poisoned.length }, body: poisoned });
    expect(put.status).toBe(200);
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.untrusted) })).body).toEqual(poisoned);
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['no token', {}, 401],
    ['a forged token', { authorization: 'Bearer a.b.c' }, 401],
    ['a read-only token', 'readOnly', 403],
  ])('refuses a PUT with %s, and nothing is stored', async (_what, who, status) => {
    const headers = typeof who === 'string' ? auth(suite.gw.tokens.readOnly) : (who as Record<string, string>);
    const path = `/cache/bazel/ac/${sha256(`refused ${status}`)}`;
    expect((await suite.gw.api({ method: 'PUT', path, headers: { ...headers, 'content-length': 2 }, body: 'no' })).status).toBe(status);
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['a digest that is not sha256 hex', '/cache/bazel/cas/abc', 400],
    ['an upper-case digest', `/cache/bazel/cas/${sha256('x').toUpperCase()}`, 400],
    ['a kind that is neither ac nor cas', `/cache/bazel/xx/${sha256('x')}`, 404],
  ])('refuses %s', async (_what, path, status) => {
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) })).status).toBe(status);
  });

  it('refuses an oversize upload before reading it, and a truncated one leaves nothing visible', async () => {
    const path = `/cache/bazel/ac/${sha256('big')}`;
    const big = await suite.gw.api({ method: 'PUT', path, headers: { ...auth(suite.gw.tokens.trusted), 'content-length': MAX_BYTES + 1 } });
    expect(big.status).toBe(413);
    const cut = `/cache/bazel/ac/${sha256('cut')}`;
    await truncatedPut(suite.gw.port, cut, auth(suite.gw.tokens.trusted), 4096);
    expect((await suite.gw.api({ path: cut, headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });
});
