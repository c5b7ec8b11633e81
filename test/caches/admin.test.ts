/**
 * Administering a project's caches over the API: listing (filters, sorts, pages), usage against
 * the quota, and deletion by key, prefix or all, with the scope rule that keeps a pull request
 * from ever making a trusted scope miss.
 */
import { createHash } from 'node:crypto';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, type Listening } from '../support/raw-http';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const MAIN = { branch: 'main', default_branch: 'main', trusted: true };
const PR = { branch: 'pull/7', base_branch: 'main', default_branch: 'main', trusted: false };
const ALL = 'cache:read cache:write cache:delete';

interface Listed {
  key: string;
  scope: string;
  size: number;
  createdAt: string;
  lastUsedAt: string;
}

describe.each(DRIVERS)('cache administration API on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  let project: string;
  let n = 0;

  beforeAll(async () => {
    t = await makeTestApp(driver, { CACHE_QUOTA_BYTES: '1000000' });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });
  beforeEach(() => {
    project = `acme/admin-${++n}`;
  });

  const tok = (claims: Record<string, unknown> = {}) => t.token({ project, ...MAIN, scope: ALL, ...claims });
  const enc = () => encodeURIComponent(project);
  const tick = () => (t.clock.now += 2000);
  async function save(key: string, body: string, claims: Record<string, unknown> = {}) {
    const res = await raw(srv.port, {
      method: 'PUT',
      path: `/api/v1/projects/${enc()}/caches/${encodeURIComponent(key)}`,
      headers: { host: API, authorization: `Bearer ${await tok(claims)}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
    expect(res.status).toBe(201);
    tick();
  }
  async function restore(key: string, claims: Record<string, unknown> = {}) {
    return raw(srv.port, {
      path: `/api/v1/projects/${enc()}/caches?keys=${encodeURIComponent(key)}`,
      headers: { host: API, authorization: `Bearer ${await tok(claims)}` },
    });
  }
  async function call(method: 'GET' | 'DELETE', what: string, query = '', claims: Record<string, unknown> = {}, token?: string) {
    return raw(srv.port, {
      method,
      path: `/api/v1/projects/${enc()}/${what}${query ? `?${query}` : ''}`,
      headers: { host: API, authorization: `Bearer ${token ?? (await tok(claims))}` },
    });
  }
  const list = (query = '', claims: Record<string, unknown> = {}) => call('GET', 'cache-entries', query, claims);
  const del = (query: string, claims: Record<string, unknown> = {}) => call('DELETE', 'cache-entries', query, claims);
  const keysOf = (res: { json: () => { entries: Listed[] } }) => res.json().entries.map((e) => `${e.scope} ${e.key}`);

  /** main: npm-a (1 byte), npm-b (22 bytes), go-c (3 bytes); the pull request: npm-a (4 bytes). */
  async function seed() {
    await save('npm-a', 'a');
    await save('npm-b', 'b'.repeat(22));
    await save('go-c', 'ccc');
    await save('npm-a', 'prpr', PR);
  }

  describe('listing', () => {
    it('lists every entry of the project with its scope, size and times, newest use first, for a trusted job', async () => {
      await seed();
      const res = await list();
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('private, no-store');
      expect(res.json().totalCount).toBe(4);
      expect(keysOf(res)).toEqual(['untrusted:pull/7 npm-a', 'branch:main go-c', 'branch:main npm-b', 'branch:main npm-a']);
      const entry = res.json().entries.find((e: Listed) => e.key === 'npm-b');
      expect(entry).toMatchObject({ scope: 'branch:main', size: 22, sha256: createHash('sha256').update('b'.repeat(22)).digest('hex') });
      expect(entry.lastUsedAt).toBe(entry.createdAt);
    });

    it('shows a restore as the last use, and sorts by it', async () => {
      await seed();
      t.clock.now += 60_000;
      expect((await restore('npm-a')).status).toBe(200);
      const res = await list('sort=last-used');
      expect(keysOf(res)[0]).toBe('branch:main npm-a');
      const used = res.json().entries[0] as Listed;
      expect(Date.parse(used.lastUsedAt)).toBeGreaterThan(Date.parse(used.createdAt));
    });

    it('filters by key prefix and by scope', async () => {
      await seed();
      expect(keysOf(await list('prefix=npm-&sort=key'))).toEqual(['branch:main npm-a', 'untrusted:pull/7 npm-a', 'branch:main npm-b']);
      expect(keysOf(await list('scope=branch%3Amain&sort=key'))).toEqual(['branch:main go-c', 'branch:main npm-a', 'branch:main npm-b']);
      expect(keysOf(await list('scope=branch%3Amain&prefix=npm-b'))).toEqual(['branch:main npm-b']);
      expect((await list('prefix=nothing-')).json()).toEqual({ entries: [], totalCount: 0 });
    });

    it('sorts by size, creation and key, either way', async () => {
      await seed();
      expect(keysOf(await list('sort=size'))).toEqual(['branch:main npm-b', 'untrusted:pull/7 npm-a', 'branch:main go-c', 'branch:main npm-a']);
      expect(keysOf(await list('sort=size&order=asc'))[0]).toBe('branch:main npm-a');
      expect(keysOf(await list('sort=key&order=desc'))).toEqual(['branch:main npm-b', 'untrusted:pull/7 npm-a', 'branch:main npm-a', 'branch:main go-c']);
      expect(keysOf(await list('sort=created&order=asc&scope=branch%3Amain'))).toEqual(['branch:main npm-a', 'branch:main npm-b', 'branch:main go-c']);
    });

    it('pages with a page token, every entry once, even when one is deleted between pages', async () => {
      await seed();
      const first = await list('sort=key&limit=2');
      expect(keysOf(first)).toEqual(['branch:main go-c', 'branch:main npm-a']);
      const token = first.json().nextPageToken as string;
      expect(token).toEqual(expect.any(String));
      expect((await del('key=go-c&scope=branch%3Amain')).status).toBe(200);
      const second = await list(`sort=key&limit=2&pageToken=${token}`);
      expect(keysOf(second)).toEqual(['untrusted:pull/7 npm-a', 'branch:main npm-b']);
      expect(second.json().nextPageToken).toBeUndefined();
    });

    it('lists build tools’ entries too, under their protocol', async () => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/v8/artifacts/abc123?slug=${enc()}`,
        headers: { host: API, authorization: `Bearer ${await tok()}`, 'content-length': 5, 'content-type': 'application/octet-stream' },
        body: 'turbo',
      });
      expect(res.status).toBe(202);
      expect(keysOf(await list())).toEqual(['branch:main turbo/abc123']);
    });

    it('shows a pull-request job only the scopes it restores from, and refuses it another scope', async () => {
      await seed();
      await save('other', 'x', { branch: 'pull/8' });
      await save('feature', 'x', { ...MAIN, branch: 'feature' });
      expect(keysOf(await list('sort=key', PR))).toEqual(['branch:main go-c', 'branch:main npm-a', 'untrusted:pull/7 npm-a', 'branch:main npm-b']);
      expect((await list('scope=untrusted%3Apull%2F8', PR)).status).toBe(403);
      expect((await list('scope=branch%3Afeature', PR)).status).toBe(403);
    });
  });

  describe('usage', () => {
    it('answers bytes and entries of the project and per scope, with the quota and TTL', async () => {
      await seed();
      const res = await call('GET', 'cache-usage');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({
        quotaBytes: 1000000,
        ttlDays: 7,
        size: 30,
        count: 4,
        scopes: [
          { scope: 'branch:main', size: 26, count: 3 },
          { scope: 'untrusted:pull/7', size: 4, count: 1 },
        ],
      });
    });

    it('gives a pull-request job the project totals but only its readable scopes', async () => {
      await seed();
      await save('other', 'xxxxx', { branch: 'pull/8' });
      const body = (await call('GET', 'cache-usage', '', PR)).json();
      expect(body).toMatchObject({ size: 35, count: 5 });
      expect(body.scopes.map((s: { scope: string }) => s.scope)).toEqual(['branch:main', 'untrusted:pull/7']);
    });
  });

  describe('deleting', () => {
    it('deletes a key in a scope: gone for restore and listing at once, saveable again, one audit line', async () => {
      await seed();
      const res = await del('key=npm-b&scope=branch%3Amain');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ deleted: [{ key: 'npm-b', scope: 'branch:main', size: 22 }], count: 1, bytes: 22, more: false });
      expect((await restore('npm-b')).status).toBe(204);
      expect(keysOf(await list('prefix=npm-b'))).toEqual([]);
      const audit = t.log.lines.filter((l) => l.audit === 'cache.delete' && (l.what as { project: string }).project === project);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        who: { project, branch: 'main', trusted: true },
        what: { project, scope: 'branch:main', by: 'key', keys: ['npm-b'], count: 1, bytes: 22 },
      });
      await save('npm-b', 'new bytes');
      expect((await restore('npm-b')).json()).toMatchObject({ key: 'npm-b', size: 9 });
    });

    it('deletes a key in every scope when no scope is named (trusted job)', async () => {
      await seed();
      const res = await del('key=npm-a');
      expect(res.json()).toMatchObject({ count: 2, bytes: 5 });
      expect(keysOf(await list('sort=key'))).toEqual(['branch:main go-c', 'branch:main npm-b']);
    });

    it('deletes by prefix, and all, leaving the rest', async () => {
      await seed();
      expect((await del('prefix=npm-&scope=branch%3Amain')).json()).toMatchObject({ count: 2, bytes: 23, more: false });
      expect(keysOf(await list('sort=key'))).toEqual(['branch:main go-c', 'untrusted:pull/7 npm-a']);
      expect((await del('prefix=zzz-')).json()).toEqual({ deleted: [], count: 0, bytes: 0, more: false });
      expect((await del('all=true')).json()).toMatchObject({ count: 2 });
      expect((await list()).json().totalCount).toBe(0);
      expect((await call('GET', 'cache-usage')).json()).toMatchObject({ size: 0, count: 0, scopes: [] });
    });

    it('deletes the archive, the index names and the last-used marker with the entry', async () => {
      await save('npm-linux-1', 'bytes');
      expect((await restore('npm-linux-1')).status).toBe(200);
      expect((await del('key=npm-linux-1')).status).toBe(200);
      const { toKeyPrefix } = await import('../../src/storage/keys');
      const left = await t.harness.storage.list('cache', toKeyPrefix(`p/${encodeURIComponent(project)}/`));
      expect(left.items.map((i) => i.key)).toEqual([]);
      // the prefix index no longer finds it either
      expect((await restore('npm-linux-')).status).toBe(204);
    });

    it('answers 404 for a key no scope holds, and deletes nothing', async () => {
      await seed();
      const res = await del('key=nope');
      expect(res.status).toBe(404);
      expect((await list()).json().totalCount).toBe(4);
    });

    it('lets a pull-request job delete in its own scope only: without a scope it never reaches a trusted one', async () => {
      await seed();
      const res = await del('key=npm-a', PR);
      expect(res.json()).toEqual({ deleted: [{ key: 'npm-a', scope: 'untrusted:pull/7', size: 4 }], count: 1, bytes: 4, more: false });
      await save('npm-x', 'x', PR);
      expect((await del('all=true', PR)).json()).toMatchObject({ count: 1, deleted: [{ key: 'npm-x', scope: 'untrusted:pull/7' }] });
      expect(keysOf(await list('sort=key'))).toEqual(['branch:main go-c', 'branch:main npm-a', 'branch:main npm-b']);
    });

    it.each([
      ['a trusted scope by key', 'key=npm-a&scope=branch%3Amain'],
      ['a trusted scope by prefix', 'prefix=npm-&scope=branch%3Amain'],
      ['a trusted scope, all', 'all=true&scope=branch%3Amain'],
      ['another pull request’s scope', 'all=true&scope=untrusted%3Apull%2F8'],
      ['the content-addressed scope', 'all=true&scope=content-addressed'],
    ])('refuses a pull-request job deleting in %s (403), and deletes nothing', async (_what, query) => {
      await seed();
      await save('other', 'x', { branch: 'pull/8' });
      const res = await del(query, PR);
      expect(res.status).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
      expect((await list()).json().totalCount).toBe(5);
      expect((await restore('npm-a')).json()).toMatchObject({ scope: 'branch:main' });
    });
  });

  describe('bad requests', () => {
    it.each([
      ['GET', 'cache-entries', 'limit=0'],
      ['GET', 'cache-entries', 'limit=1001'],
      ['GET', 'cache-entries', 'limit=ten'],
      ['GET', 'cache-entries', 'limit=1&limit=2'],
      ['GET', 'cache-entries', 'sort=name'],
      ['GET', 'cache-entries', 'order=up'],
      ['GET', 'cache-entries', 'scope=main'],
      ['GET', 'cache-entries', 'scope=branch%3A'],
      ['GET', 'cache-entries', 'scope=branch%3Aa%0Ab'],
      ['GET', 'cache-entries', 'prefix=%2e%2e%2fx'],
      ['GET', 'cache-entries', 'prefix=a%2Cb'],
      ['GET', 'cache-entries', 'pageToken=!!!'],
      ['GET', 'cache-entries', 'pageToken=eyJxIjoiW10iLCJhZnRlciI6WzEsIiIsIiJdfQ'],
      ['DELETE', 'cache-entries', ''],
      ['DELETE', 'cache-entries', 'scope=branch%3Amain'],
      ['DELETE', 'cache-entries', 'key=a&prefix=a'],
      ['DELETE', 'cache-entries', 'all=yes'],
      ['DELETE', 'cache-entries', 'key=..%2Fescape'],
      ['DELETE', 'cache-entries', 'key=a%00b'],
      ['DELETE', 'cache-entries', 'prefix='],
      ['DELETE', 'cache-entries', 'key=a&key=b'],
      ['DELETE', 'cache-entries', 'key=a&scope=nope'],
    ] as const)('%s %s?%s is a 400 and changes nothing', async (method, what, query) => {
      await save('a', 'x');
      const res = await call(method, what, query);
      expect(res.status).toBe(400);
      expect(res.json().error.message).toEqual(expect.any(String));
      expect((await list()).json().totalCount).toBe(1);
    });

    it('refuses a token of another project (403), one without the scope (403), and none (401)', async () => {
      await save('a', 'x');
      const other = await t.token({ project: 'acme/other', ...MAIN, scope: ALL });
      for (const what of ['cache-entries', 'cache-usage']) {
        expect((await call('GET', what, '', {}, other)).status).toBe(403);
        expect((await call('GET', what, '', { scope: 'cache:write' })).status).toBe(403);
      }
      expect((await call('DELETE', 'cache-entries', 'key=a', {}, other)).status).toBe(403);
      const noDelete = await call('DELETE', 'cache-entries', 'key=a', { scope: 'cache:read cache:write' });
      expect(noDelete.status).toBe(403);
      expect(noDelete.json().error.message).toContain('cache:delete');
      const anonymous = await rawHttp(srv.port, { method: 'DELETE', path: `/api/v1/projects/${enc()}/cache-entries?key=a`, headers: { host: API } });
      expect(anonymous.status).toBe(401);
      expect((await list()).json().totalCount).toBe(1);
    });

    it('refuses a project id that is no id (400)', async () => {
      const res = await raw(srv.port, { path: '/api/v1/projects/..%2Fx/cache-entries', headers: { host: API, authorization: `Bearer ${await tok()}` } });
      expect(res.status).toBe(400);
    });
  });
});
