import { createHash, randomBytes } from 'node:crypto';
import { toKeyPrefix } from '../../src/storage/keys';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { fetchPresigned } from '../support/presigned';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, rawSocket, type Listening } from '../support/raw-http';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const TRUSTED_MAIN = { branch: 'main', default_branch: 'main', trusted: true };

describe.each(DRIVERS)('caches API on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  let project: string;
  let n = 0;

  beforeAll(async () => {
    t = await makeTestApp(driver, { CACHE_MAX_BYTES: String(64 * 1024 * 1024), CACHE_PART_BYTES: String(5 * 1024 * 1024) });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });
  beforeEach(() => {
    // a project per test: entries of one test never answer another's restore
    project = `acme/cache-${++n}`;
  });

  const tok = (claims: Record<string, unknown> = {}) => t.token({ project, ...TRUSTED_MAIN, ...claims });
  const path = (key: string) => `/api/v1/projects/${encodeURIComponent(project)}/caches/${encodeURIComponent(key)}`;
  async function save(key: string, body: Buffer | string, claims: Record<string, unknown> = {}) {
    return raw(srv.port, {
      method: 'PUT',
      path: path(key),
      headers: { host: API, authorization: `Bearer ${await tok(claims)}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
  }
  async function restore(keys: string[], claims: Record<string, unknown> = {}, extra = '') {
    return raw(srv.port, {
      path: `/api/v1/projects/${encodeURIComponent(project)}/caches?keys=${keys.map(encodeURIComponent).join(',')}${extra}`,
      headers: { host: API, authorization: `Bearer ${await tok(claims)}` },
    });
  }
  async function restoredBytes(res: { json: () => { url: string } }): Promise<string> {
    const got = await fetchPresigned(driver, srv.port, res.json().url);
    expect(got.status).toBe(200);
    return got.body.toString();
  }
  const tick = () => {
    t.clock.now += 1000;
  };

  describe('save and restore', () => {
    it('saves a streamed archive and restores it by its exact key with a presigned URL', async () => {
      const res = await save('npm-linux-abc', 'archive bytes');
      expect(res.status).toBe(201);
      expect(res.json()).toEqual({
        key: 'npm-linux-abc',
        scope: 'branch:main',
        size: 13,
        sha256: sha('archive bytes'),
        createdAt: expect.any(String),
        createdBy: { subject: `${project}#100`, project, branch: 'main', build: '100', trusted: true },
      });
      const hit = await restore(['npm-linux-abc']);
      expect(hit.status).toBe(200);
      expect(hit.headers['cache-control']).toBe('private, no-store');
      expect(hit.json()).toMatchObject({ key: 'npm-linux-abc', scope: 'branch:main', size: 13, sha256: sha('archive bytes'), exact: true });
      expect(await restoredBytes(hit)).toBe('archive bytes');
      expect(t.log.lines.some((l) => l.audit === 'cache.save' && (l.what as { key: string }).key === 'npm-linux-abc')).toBe(true);
    });

    it('records the expandedSize a save declares and answers it on restore; entries saved without one have none', async () => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `${path('sized')}?expandedSize=10240`,
        headers: { host: API, authorization: `Bearer ${await tok()}`, 'content-length': 5 },
        body: 'bytes',
      });
      expect(res.status).toBe(201);
      expect(res.json()).toMatchObject({ key: 'sized', size: 5, expandedSize: 10240 });
      expect((await restore(['sized'])).json()).toMatchObject({ key: 'sized', expandedSize: 10240 });
      expect((await save('unsized', 'bytes')).json()).not.toHaveProperty('expandedSize');
      expect((await restore(['unsized'])).json()).not.toHaveProperty('expandedSize');
      expect(t.log.lines.some((l) => l.audit === 'cache.save' && (l.what as { expandedSize?: number }).expandedSize === 10240)).toBe(true);
    });

    it.each(['-1', '1.5', '1e3', '', 'x', '9007199254740992', '99999999999999999'])('refuses expandedSize=%j with 400, storing nothing', async (value) => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `${path('bad-size')}?expandedSize=${encodeURIComponent(value)}`,
        headers: { host: API, authorization: `Bearer ${await tok()}`, 'content-length': 5 },
        body: 'bytes',
      });
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(/expandedSize must be the uncompressed size of the archive in bytes/);
      expect((await restore(['bad-size'])).status).toBe(204);
    });

    it('takes the key from after the route, even for a project named "caches"', async () => {
      project = 'caches';
      const res = await save('caches/k', 'x');
      expect(res.status).toBe(201);
      expect(res.json().key).toBe('caches/k');
      expect((await restore(['caches/k'])).json()).toMatchObject({ key: 'caches/k', exact: true });
    });

    it('answers 204 on a miss', async () => {
      const res = await restore(['nothing-here', 'nothing-']);
      expect(res.status).toBe(204);
      expect(res.body.length).toBe(0);
    });

    it('answers 302 to the archive when asked to redirect', async () => {
      await save('redirect-me', 'r');
      const res = await restore(['redirect-me'], {}, '&redirect=true');
      expect(res.status).toBe(302);
      expect((await fetchPresigned(driver, srv.port, res.headers.location!)).body.toString()).toBe('r');
    });

    it('falls back to the keys in order as prefixes, and the newest match wins', async () => {
      await save('deps-linux-old', 'old');
      tick();
      await save('deps-linux-new', 'new');
      tick();
      await save('deps-mac-1', 'mac');
      // exact miss, then "deps-linux-" matches two: the newer wins
      const a = await restore(['deps-linux-missing', 'deps-linux-', 'deps-']);
      expect(a.json()).toMatchObject({ key: 'deps-linux-new', exact: false });
      // the keys are tried in order: "deps-linux-old" (exact, as a prefix) before "deps-"
      const b = await restore(['nope', 'deps-linux-old', 'deps-']);
      expect(b.json()).toMatchObject({ key: 'deps-linux-old' });
      // the first key is also a prefix
      const c = await restore(['deps-mac']);
      expect(c.json()).toMatchObject({ key: 'deps-mac-1', exact: false });
      expect(await restoredBytes(c)).toBe('mac');
    });

    it("searches the job's own branch, then its base branch, then the default branch", async () => {
      await save('k', 'from main');
      await save('k', 'from develop', { branch: 'develop' });
      await save('k', 'from feature', { branch: 'feature' });
      const feature = { branch: 'feature', base_branch: 'develop' };
      expect(await restoredBytes(await restore(['k'], feature))).toBe('from feature');
      expect((await restore(['k'], feature)).json().scope).toBe('branch:feature');
      expect(await restoredBytes(await restore(['k'], { branch: 'other', base_branch: 'develop' }))).toBe('from develop');
      expect(await restoredBytes(await restore(['k'], { branch: 'other' }))).toBe('from main');
    });

    it('treats keys that differ only in Unicode normalisation as one key', async () => {
      const nfc = 'caf\u00e9-deps';
      const nfd = 'cafe\u0301-deps';
      expect((await save(nfc, 'first')).status).toBe(201);
      expect((await save(nfd, 'second')).status).toBe(409);
      expect((await restore([nfd])).json()).toMatchObject({ key: nfc, exact: true });
    });
  });

  describe('poisoning: untrusted jobs', () => {
    const PR = { branch: 'pull/7', base_branch: 'main', trusted: false };

    it('write only their own scope, which trusted jobs never restore', async () => {
      const res = await save('build-cache', 'poison', PR);
      expect(res.status).toBe(201);
      expect(res.json()).toMatchObject({ scope: 'untrusted:pull/7', createdBy: { trusted: false, branch: 'pull/7' } });
      expect((await restore(['build-cache'])).status).toBe(204);
      expect((await restore(['build-cache', 'build-'], { branch: 'release' })).status).toBe(204);
      // the pull request itself gets its own entry back
      expect(await restoredBytes(await restore(['build-cache'], PR))).toBe('poison');
    });

    it('cannot shadow what the default branch saved, for trusted jobs', async () => {
      await save('shared', 'trusted bytes');
      await save('shared', 'poison', PR);
      const trusted = await restore(['shared']);
      expect(trusted.json()).toMatchObject({ scope: 'branch:main', sha256: sha('trusted bytes') });
    });

    it('restore the base and default branch when they have nothing of their own', async () => {
      await save('from-main', 'main bytes');
      expect((await restore(['from-main'], PR)).json()).toMatchObject({ scope: 'branch:main', createdBy: { trusted: true } });
    });

    it('cannot write another scope by claiming a branch while untrusted', async () => {
      const res = await save('claimed', 'poison', { branch: 'main', trusted: false });
      expect(res.json().scope).toBe('untrusted:main');
      expect((await restore(['claimed'])).status).toBe(204);
    });
  });

  describe('write-once', () => {
    it('answers a second save of a key with 409 and the existing entry, keeping the first', async () => {
      await save('once', 'first');
      const res = await save('once', 'second');
      expect(res.status).toBe(409);
      expect(res.json().error).toMatchObject({ code: 'conflict', existing: { key: 'once', sha256: sha('first'), scope: 'branch:main' } });
      expect(await restoredBytes(await restore(['once']))).toBe('first');
    });

    it('lets exactly one of 8 concurrent saves win and leaves no stray objects', async () => {
      const bodies = Array.from({ length: 8 }, (_, i) => `body-${i}-${'x'.repeat(1000 * i)}`);
      const results = await Promise.all(bodies.map((b) => save('race', b)));
      const won = results.flatMap((r, i) => (r.status === 201 ? [i] : []));
      expect(won).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(7);
      const hit = await restore(['race']);
      expect(hit.json().sha256).toBe(sha(bodies[won[0]]));
      expect(await restoredBytes(hit)).toBe(bodies[won[0]]);
      const objects = await t.harness.storage.list('cache', toKeyPrefix(`p/${encodeURIComponent(project)}/o/`));
      expect(objects.items).toHaveLength(1);
    });
  });

  describe('who may', () => {
    it.each([
      ['save with a read-only token', () => save('ro', 'x', { scope: 'cache:read' }), 403, /lacks the cache:write scope/],
      ['restore without cache:read', () => restore(['ro'], { scope: 'cache:write' }), 403, /lacks the cache:read scope/],
      ['save for another project', () => save('other', 'x', { project: 'acme/other' }), 403, /not "acme\/cache-/],
      ['restore for another project', () => restore(['other'], { project: 'acme/other' }), 403, /not "acme\/cache-/],
    ])('refuses to %s', async (_what, call, status, message) => {
      const res = await call();
      expect(res.status).toBe(status);
      expect(res.json().error.message).toMatch(message);
    });
  });

  describe('bad input', () => {
    it.each([
      ['a control character', 'a\u0001b', /control character/],
      ['a key over 512 characters', 'k'.repeat(513), /513 characters long; the limit is 512/],
      ['a .. segment', 'a/../b', /'\.\.' segment/],
      ['an empty segment', 'a//b', /empty path segment/],
      ['a comma', 'a,b', /comma/],
      ['invalid percent-encoding', '%E0%A4%A', /not valid percent-encoded/],
    ])('refuses to save a key with %s', async (_what, key, message) => {
      const p = key.startsWith('%') ? `/api/v1/projects/${encodeURIComponent(project)}/caches/${key}` : path(key);
      const res = await raw(srv.port, {
        method: 'PUT',
        path: p,
        headers: { host: API, authorization: `Bearer ${await tok()}`, 'content-length': 1 },
        body: 'x',
      });
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(message);
    });

    it.each([
      ['no keys parameter', ''],
      ['an empty key list', '?keys='],
      ['too many keys', `?keys=${Array.from({ length: 11 }, (_, i) => `k${i}`).join(',')}`],
      ['an empty restore key', '?keys=a,,b'],
    ])('refuses a restore with %s', async (_what, query) => {
      const res = await raw(srv.port, {
        path: `/api/v1/projects/${encodeURIComponent(project)}/caches${query}`,
        headers: { host: API, authorization: `Bearer ${await tok()}` },
      });
      expect(res.status).toBe(400);
    });

    it('refuses a save without Content-Length (411) and over CACHE_MAX_BYTES (413)', async () => {
      const out = await rawSocket(
        srv.port,
        `PUT ${path('chunked')} HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${await tok()}\r\n` +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n',
      );
      expect(out).toMatch(/^HTTP\/1\.1 411/);
      const big = await rawSocket(
        srv.port,
        `PUT ${path('big')} HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${await tok()}\r\n` +
          `Content-Length: ${128 * 1024 * 1024}\r\nConnection: close\r\n\r\n`,
      );
      expect(big).toMatch(/^HTTP\/1\.1 413/);
      expect((await restore(['chunked', 'big'])).status).toBe(204);
    });

    it('leaves no entry when the client hangs up mid-save', async () => {
      const requests = srv.received;
      await rawSocket(
        srv.port,
        Buffer.concat([
          Buffer.from(`PUT ${path('cut')} HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${await tok()}\r\nContent-Length: 100000\r\n\r\n`),
          randomBytes(5000),
        ]),
        { destroyAfterWrite: true },
      );
      await srv.handled(requests + 1);
      expect((await restore(['cut'])).status).toBe(204);
      expect((await t.harness.storage.list('cache', toKeyPrefix(`p/${encodeURIComponent(project)}/`))).items).toEqual([]);
    });
  });

  describe('direct upload: reserve, presigned parts, commit', () => {
    async function post(suffix: string, body: unknown, claims: Record<string, unknown> = {}) {
      const json = JSON.stringify(body);
      return raw(srv.port, {
        method: 'POST',
        path: suffix,
        headers: { host: API, authorization: `Bearer ${await tok(claims)}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
        body: json,
      });
    }
    async function uploadParts(parts: Array<{ partNumber: number; url: string }>, data: Buffer, partSize: number) {
      const done = [];
      for (const p of parts) {
        const chunk = data.subarray((p.partNumber - 1) * partSize, p.partNumber * partSize);
        const res = await fetchPresigned(driver, srv.port, p.url, { method: 'PUT', body: chunk });
        expect(res.status).toBe(200);
        done.push({ partNumber: p.partNumber, etag: res.headers.etag });
      }
      return done;
    }

    it('stores a multi-part archive that restores byte for byte', async () => {
      const data = randomBytes(11 * 1024 * 1024);
      const reserved = await post(`${path('big-cache')}/uploads`, { size: data.length, sha256: sha(data) });
      expect(reserved.status).toBe(201);
      const { uploadId, partSize, parts } = reserved.json();
      expect(partSize).toBe(5 * 1024 * 1024);
      expect(parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2, 3]);
      const done = await uploadParts(parts, data, partSize);
      expect((await restore(['big-cache'])).status).toBe(204); // nothing visible before commit
      const committed = await post(`${path('big-cache')}/uploads/${uploadId}/commit`, { parts: done });
      expect(committed.status).toBe(201);
      expect(committed.json()).toMatchObject({ key: 'big-cache', size: data.length, sha256: sha(data) });
      const hit = await restore(['big-cache']);
      const got = await fetchPresigned(driver, srv.port, hit.json().url);
      expect(sha(got.body)).toBe(sha(data));
    });

    it('records the expandedSize given at reserve in the committed entry, and refuses a malformed one', async () => {
      const data = randomBytes(1000);
      const reserved = await post(`${path('sized-direct')}/uploads`, { size: data.length, sha256: sha(data), expandedSize: 4096 });
      expect(reserved.status).toBe(201);
      const { uploadId, partSize, parts } = reserved.json();
      const committed = await post(`${path('sized-direct')}/uploads/${uploadId}/commit`, { parts: await uploadParts(parts, data, partSize) });
      expect(committed.json()).toMatchObject({ key: 'sized-direct', expandedSize: 4096 });
      expect((await restore(['sized-direct'])).json()).toMatchObject({ expandedSize: 4096 });
      for (const bad of [-1, 0.5, '4096', 2 ** 53, null]) {
        const res = await post(`${path('sized-bad')}/uploads`, { size: 1000, sha256: sha(data), expandedSize: bad });
        expect(res.status).toBe(400);
        expect(res.json().error.message).toMatch(/expandedSize must be/);
      }
    });

    it('refuses to commit bytes that do not match the declared sha256, and stores nothing', async () => {
      const data = randomBytes(1000);
      const reserved = (await post(`${path('liar')}/uploads`, { size: 1000, sha256: sha('something else') })).json();
      const done = await uploadParts(reserved.parts, data, reserved.partSize);
      const res = await post(`${path('liar')}/uploads/${reserved.uploadId}/commit`, { parts: done });
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(/do not match the sha256/);
      expect((await restore(['liar'])).status).toBe(204);
      expect((await t.harness.storage.list('cache', toKeyPrefix(`p/${encodeURIComponent(project)}/o/`))).items).toEqual([]);
    });

    it.each([
      ['an upload that never happened', async () => ({ id: '00000000-0000-4000-8000-000000000000', parts: [{ partNumber: 1, etag: '"x"' }] }), 404],
      ['an upload id that is not one', async () => ({ id: '..%2F..', parts: [{ partNumber: 1, etag: '"x"' }] }), 404],
      [
        'missing parts',
        async () => {
          const r = (await post(`${path('gap')}/uploads`, { size: 11 * 1024 * 1024, sha256: sha('x') })).json();
          return { id: r.uploadId, parts: [{ partNumber: 2, etag: '"x"' }] };
        },
        400,
      ],
      [
        'parts that were never uploaded',
        async () => {
          const r = (await post(`${path('gap')}/uploads`, { size: 100, sha256: sha('x') })).json();
          return { id: r.uploadId, parts: [{ partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"' }] };
        },
        400,
      ],
    ])('refuses to commit %s', async (_what, make, status) => {
      const { id, parts } = await make();
      const res = await post(`${path('gap')}/uploads/${id}/commit`, { parts });
      expect(res.status).toBe(status);
    });

    it('refuses a commit from a job of another scope', async () => {
      const data = randomBytes(100);
      const r = (await post(`${path('scoped')}/uploads`, { size: 100, sha256: sha(data) }, { branch: 'pull/9', trusted: false })).json();
      const done = await uploadParts(r.parts, data, r.partSize);
      const res = await post(`${path('scoped')}/uploads/${r.uploadId}/commit`, { parts: done });
      expect(res.status).toBe(404);
      expect((await restore(['scoped'])).status).toBe(204);
    });

    it('aborts an upload, after which it cannot be committed', async () => {
      const r = (await post(`${path('abort')}/uploads`, { size: 100, sha256: sha('x') })).json();
      const del = await raw(srv.port, {
        method: 'DELETE',
        path: `${path('abort')}/uploads/${r.uploadId}`,
        headers: { host: API, authorization: `Bearer ${await tok()}` },
      });
      expect(del.status).toBe(204);
      const res = await post(`${path('abort')}/uploads/${r.uploadId}/commit`, { parts: [{ partNumber: 1, etag: '"x"' }] });
      expect(res.status).toBe(404);
    });

    it.each([
      ['no size', { sha256: sha('x') }, /size must be/],
      ['a negative size', { size: -1, sha256: sha('x') }, /size must be/],
      ['a size over CACHE_MAX_BYTES', { size: 65 * 1024 * 1024, sha256: sha('x') }, /over the 67108864-byte cache limit/],
      ['a malformed sha256', { size: 10, sha256: 'XYZ' }, /sha256 must be/],
    ])('refuses a reservation with %s', async (_what, body, message) => {
      const res = await post(`${path('bad-reserve')}/uploads`, body);
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(message);
    });

    it('refuses to reserve a key that already exists, with 409', async () => {
      await save('exists', 'x');
      const res = await post(`${path('exists')}/uploads`, { size: 10, sha256: sha('x') });
      expect(res.status).toBe(409);
    });

    it('refuses a body that is not JSON', async () => {
      const res = await raw(srv.port, {
        method: 'POST',
        path: `${path('nojson')}/uploads`,
        headers: { host: API, authorization: `Bearer ${await tok()}`, 'content-type': 'application/json', 'content-length': 5 },
        body: '{nope',
      });
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(/not valid JSON/);
    });
  });
});
