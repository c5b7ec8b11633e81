/**
 * Turborepo against the gateway, driven as a job drives it: `turbo run build --api <gateway>
 * --token <job token> --team <project>`, each run on a clean checkout with an empty local cache.
 * Signing is on in the fixture, so a hit also proves `x-artifact-tag` reaches turbo.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DRIVERS } from '../support/drivers';
import { bearer as auth, MAX_BYTES, PROJECT, runOnCheckout, truncatedPut, useProtocolGateway } from './support';

const TURBO = resolve(__dirname, '../../node_modules/.bin/turbo');
const FIXTURE = resolve(__dirname, 'fixtures/turbo');

describe.each(DRIVERS)('Turborepo remote cache (%s driver)', (driver) => {
  const suite = useProtocolGateway(driver);

  function turbo(token: string, team = PROJECT): Promise<{ out: string; dir: string }> {
    const env = {
      TURBO_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
      TURBO_NO_UPDATE_NOTIFIER: '1',
      TURBO_REMOTE_CACHE_SIGNATURE_KEY: 'fixture-signing-key',
    };
    return runOnCheckout(FIXTURE, suite.work, TURBO, ['run', 'build', '--api', suite.gw.url, '--token', token, '--team', team], env, 60_000);
  }

  it('misses and uploads, then hits remotely on a clean checkout; an untrusted run is never hit by a trusted one', async () => {
    const pr = await turbo(suite.gw.tokens.untrusted);
    expect(pr.out).toMatch(/app:build: cache miss, executing/);
    expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'turbo', result: 'stored' })).toBe(1);

    // the pull request's artifact has the same hash, but lives in its own scope
    const first = await turbo(suite.gw.tokens.trusted);
    expect(first.out).toMatch(/app:build: cache miss, executing/);
    expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'turbo', result: 'stored' })).toBe(2);

    const second = await turbo(suite.gw.tokens.trusted);
    expect(second.out).toMatch(/app:build: cache hit, replaying logs/);
    expect(second.out).toMatch(/Cached:\s+1 cached, 1 total/);
    expect(await readFile(join(second.dir, 'packages/app/dist/out.txt'), 'utf8')).toBe('built by app\n');
    expect(await suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'turbo', result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'turbo', direction: 'down' })).toBeGreaterThan(0);
  });

  it('refuses a team that names another project, with the error shape turbo reads, and turbo runs uncached', async () => {
    const r = await suite.gw.api({ path: `/v8/artifacts/status?slug=other`, headers: auth(suite.gw.tokens.trusted) });
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe('forbidden');
    const other = await suite.gw.api({ path: `/v8/artifacts/abc?teamId=other`, headers: auth(suite.gw.tokens.trusted) });
    expect(other.status).toBe(403);
    const run = await turbo(suite.gw.tokens.trusted, 'other');
    expect(run.out).toMatch(/app:build: cache miss, executing/);
    // another project's token is valid, but names its own project: it never reads this one's artifacts
    const theirs = await turbo(suite.gw.tokens.otherProject, 'other');
    expect(theirs.out).toMatch(/app:build: cache miss, executing/);
  });

  it('answers status, HEAD, the batch query and events as the OpenAPI spec says', async () => {
    const body = Buffer.from('artifact bytes');
    const put = await suite.gw.api({
      method: 'PUT',
      path: `/v8/artifacts/feedc0de?slug=${PROJECT}`,
      headers: {
        ...auth(suite.gw.tokens.trusted),
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        'x-artifact-tag': 'tag-1',
        'x-artifact-duration': '42',
      },
      body,
    });
    expect(put.status).toBe(202);
    expect(put.json().urls).toHaveLength(1);
    // write-once: a second save keeps the first artifact and still succeeds for turbo
    const headers = { ...auth(suite.gw.tokens.trusted), 'content-length': 3, 'x-artifact-tag': 'tag-2' };
    const again = await suite.gw.api({ method: 'PUT', path: '/v8/artifacts/feedc0de', headers, body: 'new' });
    expect(again.status).toBe(202);

    const status = await suite.gw.api({ path: '/v8/artifacts/status', headers: auth(suite.gw.tokens.readOnly) });
    expect(status.json()).toEqual({ status: 'enabled' });
    const head = await suite.gw.api({ method: 'HEAD', path: '/v8/artifacts/feedc0de', headers: auth(suite.gw.tokens.readOnly) });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(body.length));
    expect(head.headers['x-artifact-tag']).toBe('tag-1');
    const get = await suite.gw.api({ path: '/v8/artifacts/feedc0de', headers: auth(suite.gw.tokens.readOnly) });
    expect(get.body).toEqual(body);
    expect(get.headers['x-artifact-duration']).toBe('42');
    expect((await suite.gw.api({ method: 'HEAD', path: '/v8/artifacts/0000', headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);

    const query = await suite.gw.api({
      method: 'POST',
      path: '/v8/artifacts',
      headers: { ...auth(suite.gw.tokens.trusted), 'content-type': 'application/json' },
      body: JSON.stringify({ hashes: ['feedc0de', '0000'] }),
    });
    expect(query.json()).toEqual({ feedc0de: { size: body.length, taskDurationMs: 42, tag: 'tag-1' }, '0000': null });
    const events = await suite.gw.api({
      method: 'POST',
      path: '/v8/artifacts/events',
      headers: { ...auth(suite.gw.tokens.trusted), 'content-type': 'application/json' },
      body: JSON.stringify([{ sessionId: 's', source: 'REMOTE', event: 'HIT', hash: 'feedc0de', duration: 1 }]),
    });
    expect(events.status).toBe(200);
  });

  it.each([
    ['no token', {}, 401],
    ['a forged token', { authorization: 'Bearer a.b.c' }, 401],
    ['a read-only token', 'readOnly', 403],
  ])('refuses a PUT with %s, and nothing is stored', async (_what, who, status) => {
    const headers = typeof who === 'string' ? auth(suite.gw.tokens[who as 'readOnly']) : (who as Record<string, string>);
    const put = await suite.gw.api({ method: 'PUT', path: `/v8/artifacts/refused${status}`, headers: { ...headers, 'content-length': 2 }, body: 'no' });
    expect(put.status).toBe(status);
    const get = await suite.gw.api({ path: `/v8/artifacts/refused${status}`, headers: auth(suite.gw.tokens.trusted) });
    expect(get.status).toBe(404);
  });

  it('refuses an oversize upload before reading it, and a truncated one leaves nothing visible', async () => {
    const big = await suite.gw.api({
      method: 'PUT',
      path: '/v8/artifacts/big',
      headers: { ...auth(suite.gw.tokens.trusted), 'content-length': MAX_BYTES + 1 },
    });
    expect(big.status).toBe(413);
    await truncatedPut(suite.gw.port, '/v8/artifacts/cut', auth(suite.gw.tokens.trusted), 4096);
    expect((await suite.gw.api({ path: '/v8/artifacts/cut', headers: auth(suite.gw.tokens.trusted) })).status).toBe(404);
    const bad = await suite.gw.api({ path: '/v8/artifacts/..%2Fx', headers: auth(suite.gw.tokens.trusted) });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
  });
});
