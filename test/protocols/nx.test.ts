/**
 * Nx against the gateway's self-hosted remote cache, as a job runs it: `nx run app:build` with
 * NX_SELF_HOSTED_REMOTE_CACHE_SERVER=<gateway> and the job token as
 * NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN, each run on a clean checkout (an empty .nx cache).
 */
import { execFile } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DRIVERS } from '../support/drivers';
import { bearer as auth, checkout, MAX_BYTES, truncatedPut, useProtocolGateway } from './support';

const RUN_MS = 120_000;
const NODE_MODULES = resolve(__dirname, '../../node_modules');
const FIXTURE = resolve(__dirname, 'fixtures/nx');

describe.each(DRIVERS)('Nx self-hosted remote cache (%s driver)', (driver) => {
  const suite = useProtocolGateway(driver);

  async function nx(token: string): Promise<{ out: string; dir: string }> {
    const dir = await checkout(FIXTURE, suite.work);
    // the workspace's own nx, as `npm ci` would install it
    await symlink(NODE_MODULES, join(dir, 'node_modules'));
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: suite.work,
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
      NX_SELF_HOSTED_REMOTE_CACHE_SERVER: suite.gw.url,
      NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token,
    };
    const { stdout, stderr } = await promisify(execFile)(join(dir, 'node_modules/.bin/nx'), ['run', 'app:build'], { cwd: dir, env, timeout: RUN_MS });
    return { out: stdout + stderr, dir };
  }

  it(
    'misses and uploads, then reads from the remote cache on a clean checkout; an untrusted run is never hit by a trusted one',
    async () => {
      const pr = await nx(suite.gw.tokens.untrusted);
      expect(pr.out).toMatch(/Cache:\s+0\/1 hit/);
      expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'nx', result: 'stored' })).toBe(1);
      const first = await nx(suite.gw.tokens.trusted);
      expect(first.out).toMatch(/Cache:\s+0\/1 hit/);
      expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'nx', result: 'stored' })).toBe(2);
      const second = await nx(suite.gw.tokens.trusted);
      expect(second.out).toMatch(/nx run app:build\s+\[remote cache\]/);
      expect(await readFile(join(second.dir, 'packages/app/dist/out.txt'), 'utf8')).toBe('built by app\n');
      expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'nx', result: 'hit' })).toBe(1);
    },
    3 * RUN_MS,
  );

  it('answers a save with 200 (the status its client counts as stored) and a second save of the hash with 409', async () => {
    const put = () => suite.gw.api({ method: 'PUT', path: '/v1/cache/123', headers: { ...auth(suite.gw.tokens.trusted), 'content-length': 5 }, body: 'first' });
    expect((await put()).status).toBe(200);
    expect((await put()).status).toBe(409);
    expect((await suite.gw.api({ path: '/v1/cache/123', headers: auth(suite.gw.tokens.trusted) })).text).toBe('first');
    expect((await suite.gw.api({ path: '/v1/cache/124', headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
    const head = await suite.gw.api({ method: 'HEAD', path: '/v1/cache/123', headers: auth(suite.gw.tokens.trusted) });
    expect([head.status, head.headers['content-length']]).toEqual([200, '5']);
  });

  it.each([
    ['no token', {}, 401],
    ['a forged token', { authorization: 'Bearer a.b.c' }, 401],
    ['a read-only token', 'readOnly', 403],
  ])('refuses a PUT with %s, and nothing is stored', async (_what, who, status) => {
    const headers = typeof who === 'string' ? auth(suite.gw.tokens.readOnly) : (who as Record<string, string>);
    const path = `/v1/cache/refused${status}`;
    expect((await suite.gw.api({ method: 'PUT', path, headers: { ...headers, 'content-length': 2 }, body: 'no' })).status).toBe(status);
    expect((await suite.gw.api({ path, headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it('refuses an oversize upload before reading it, and a truncated one leaves nothing visible', async () => {
    const big = await suite.gw.api({ method: 'PUT', path: '/v1/cache/big', headers: { ...auth(suite.gw.tokens.trusted), 'content-length': MAX_BYTES + 1 } });
    expect(big.status).toBe(413);
    await truncatedPut(suite.gw.port, '/v1/cache/cut', auth(suite.gw.tokens.trusted), 4096);
    expect((await suite.gw.api({ path: '/v1/cache/cut', headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
  });
});
