/**
 * Gradle against the gateway's HTTP build cache, as a job runs it: `gradle --build-cache
 * compileJava` with the fixture's settings.gradle naming the gateway (GRADLE_CACHE_URL) and the
 * job token as the password (ARTIFACT_GATEWAY_TOKEN), each run on a clean checkout with a fresh
 * GRADLE_USER_HOME and the local build cache off, so a FROM-CACHE can only come from the gateway.
 * Gradle starts a JVM per run (--no-daemon): the runs are few and their timeouts generous.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DRIVERS } from '../support/drivers';
import { basic, bearer, MAX_BYTES, runOnCheckout, truncatedPut, untrustedThenTwice, useProtocolGateway } from './support';

const FIXTURE = resolve(__dirname, 'fixtures/gradle');
const RUN_MS = 240_000;
// a Gradle cache key: the hex of an MD5
const KEY = '0cc175b9c0f1b6a831c399e269772661';

describe.each(DRIVERS)('Gradle HTTP build cache (%s driver)', (driver) => {
  const suite = useProtocolGateway(driver);
  let runs = 0;

  async function gradle(token: string): Promise<{ out: string; dir: string }> {
    const env = {
      GRADLE_USER_HOME: join(suite.work, `gradle-home-${++runs}`),
      GRADLE_CACHE_URL: `${suite.gw.url}/cache/gradle/`,
      ARTIFACT_GATEWAY_TOKEN: token,
    };
    return runOnCheckout(FIXTURE, suite.work, 'gradle', ['--build-cache', '--no-daemon', '--console=plain', 'compileJava'], env, RUN_MS);
  }
  const counted = (result: string) => suite.gw.metric('agw_protocol_cache_requests_total', { protocol: 'gradle', result });
  const path = (key: string) => `/cache/gradle/${key}`;

  it(
    'misses and uploads, then compileJava comes FROM-CACHE on a clean checkout; an untrusted upload is never hit by a trusted run',
    async () => {
      const { pr, first, second } = await untrustedThenTwice(suite.gw, gradle);
      expect(pr.out).toMatch(/^:compileJava$/m);
      // the pull request's outputs are in its own scope: the trusted job compiles
      expect(first.out).toMatch(/^:compileJava$/m);
      expect(first.out).toMatch(/1 actionable task: 1 executed/);
      expect(second.out).toMatch(/^:compileJava FROM-CACHE$/m);
      expect(second.out).toMatch(/1 actionable task: 1 from cache/);
      // what came from the cache is the class the first run compiled
      const hello = 'build/classes/java/main/demo/Hello.class';
      expect(await readFile(join(second.dir, hello))).toEqual(await readFile(join(first.dir, hello)));
      // Gradle 4.4 sends its credentials with the first request: none of its requests was challenged
      const gradleRequests = suite.gw
        .logs()
        .split('\n')
        .filter((line) => line.includes('"ua":"Gradle/'));
      expect(gradleRequests.length).toBeGreaterThanOrEqual(5);
      expect(gradleRequests.filter((line) => line.includes('"status":401'))).toEqual([]);
      expect(await counted('miss')).toBe(2);
      expect(await counted('stored')).toBe(2);
      expect(await counted('hit')).toBe(1);
      expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'gradle', direction: 'up' })).toBeGreaterThan(0);
      expect(await suite.gw.metric('agw_protocol_cache_bytes_total', { protocol: 'gradle', direction: 'down' })).toBeGreaterThan(0);
    },
    3 * RUN_MS,
  );

  it('answers a duplicate upload with 200 and keeps the first', async () => {
    const put = (body: string) =>
      suite.gw.api({ method: 'PUT', path: path(KEY), headers: { ...basic(suite.gw.tokens.trusted), 'content-length': body.length }, body });
    expect((await put('first')).status).toBe(200);
    expect((await put('other')).status).toBe(200);
    const get = await suite.gw.api({ path: path(KEY), headers: basic(suite.gw.tokens.trusted) });
    expect([get.status, get.text, get.headers.location]).toEqual([200, 'first', undefined]);
  });

  it("keeps a project's entries from another project's token, and an untrusted upload from trusted jobs", async () => {
    const mine = path('1'.repeat(32));
    const body = 'outputs of acme';
    await suite.gw.api({ method: 'PUT', path: mine, headers: { ...basic(suite.gw.tokens.trusted), 'content-length': body.length }, body });
    expect((await suite.gw.api({ path: mine, headers: basic(suite.gw.tokens.trusted) })).text).toBe(body);
    expect((await suite.gw.api({ path: mine, headers: basic(suite.gw.tokens.otherProject) })).status).toBe(404);
    const poisoned = path('2'.repeat(32));
    await suite.gw.api({ method: 'PUT', path: poisoned, headers: { ...basic(suite.gw.tokens.untrusted), 'content-length': 8 }, body: 'poisoned' });
    expect((await suite.gw.api({ path: poisoned, headers: basic(suite.gw.tokens.untrusted) })).text).toBe('poisoned');
    expect((await suite.gw.api({ path: poisoned, headers: basic(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['no credentials', () => ({})],
    ['a forged token as the password', () => basic('a.b.c')],
    ['Basic credentials without a password', () => ({ authorization: `Basic ${Buffer.from('ci').toString('base64')}` })],
    // Gradle speaks only HTTP Basic: a Bearer token is not read, and the challenge names Basic
    ['a valid token sent as Bearer', () => bearer(suite.gw.tokens.trusted)],
  ])('answers a GET and a PUT with %s with 401 and a Basic challenge, and stores nothing', async (_what, who) => {
    const key = path('3'.repeat(32));
    for (const method of ['GET', 'PUT']) {
      const res = await suite.gw.api({
        method,
        path: key,
        headers: { ...who(), ...(method === 'PUT' ? { 'content-length': 2 } : {}) },
        body: method === 'PUT' ? 'no' : undefined,
      });
      expect([method, res.status]).toEqual([method, 401]);
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="artifact-gateway"/);
    }
    expect((await suite.gw.api({ path: key, headers: basic(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it('refuses an upload with a read-only token (403), and nothing is stored', async () => {
    const key = path('4'.repeat(32));
    expect((await suite.gw.api({ method: 'PUT', path: key, headers: { ...basic(suite.gw.tokens.readOnly), 'content-length': 2 }, body: 'no' })).status).toBe(
      403,
    );
    expect((await suite.gw.api({ path: key, headers: basic(suite.gw.tokens.trusted) })).status).toBe(404);
  });

  it.each([
    ['too short', 'abc123'],
    ['not hex', 'g'.repeat(32)],
    ['upper-case hex', KEY.toUpperCase()],
    ['over 128 digits', 'a'.repeat(129)],
  ])('refuses a key that is %s (400, saying what a key is)', async (_what, key) => {
    const res = await suite.gw.api({ path: path(key), headers: basic(suite.gw.tokens.trusted) });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_key', message: 'Gradle build cache keys are 32-128 lower-case hex digits' });
  });

  it('refuses an oversize upload before reading it (413, which Gradle tolerates), and a truncated one leaves nothing visible', async () => {
    const big = await suite.gw.api({
      method: 'PUT',
      path: path('5'.repeat(32)),
      headers: { ...basic(suite.gw.tokens.trusted), 'content-length': MAX_BYTES + 1 },
    });
    expect(big.status).toBe(413);
    const cut = path('6'.repeat(32));
    await truncatedPut(suite.gw.port, cut, basic(suite.gw.tokens.trusted), 4096);
    expect((await suite.gw.api({ path: cut, headers: basic(suite.gw.tokens.trusted) })).status).toBe(404);
  });
});
