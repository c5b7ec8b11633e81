/**
 * The gateway is stateless: two instances on one bucket (or fs root) see each other's caches and
 * artifacts at once, and concurrent writers across instances still get exactly one winner.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createApp } from '../../src/app';
import { createAuth } from '../../src/auth';
import { mintJobToken } from '../../src/auth/job-token';
import { createMetrics } from '../../src/http/metrics';
import { DRIVERS, makeDriver, type DriverHarness } from '../support/drivers';
import { captureLogger } from '../support/make-config';
import { listen, raw, type Listening } from '../support/raw-http';
import * as layout from '../../src/caches/layout';
import { toStorageKey } from '../../src/storage/keys';
import { readEntry } from '../../src/write-once';

const API = 'localhost:8080';

describe.each(DRIVERS)('two gateway instances on one %s store', (driver) => {
  let harness: DriverHarness;
  let a: Listening;
  let b: Listening;
  let token: string;

  beforeAll(async () => {
    harness = await makeDriver(driver, createMetrics());
    const auth = await createAuth(harness.config, harness.config.signingSecret!);
    // two apps, each with its own in-memory caches, sharing only the store
    const instance = () => listen(createApp({ ...harness, auth, logger: captureLogger().logger, metrics: createMetrics() }).callback());
    a = await instance();
    b = await instance();
    token = await mintJobToken(
      auth.jobTokenKey,
      {
        project: 'acme/shared',
        build: '1',
        branch: 'main',
        default_branch: 'main',
        trusted: true,
        scope: 'cache:read cache:write cache:delete artifacts:write',
      },
      { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 600 },
    );
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await harness.cleanup();
  });

  const save = (port: number, key: string, body: string) =>
    raw(port, {
      method: 'PUT',
      path: `/api/v1/projects/acme%2Fshared/caches/${key}`,
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
  const restore = (port: number, key: string) =>
    raw(port, { path: `/api/v1/projects/acme%2Fshared/caches?keys=${key}`, headers: { host: API, authorization: `Bearer ${token}` } });

  it('restores on one instance what the other saved', async () => {
    expect((await save(a.port, 'from-a', 'bytes')).status).toBe(201);
    expect((await restore(b.port, 'from-a')).json()).toMatchObject({ key: 'from-a', exact: true });
  });

  it('gives exactly one winner among concurrent saves spread over both instances', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => save(i % 2 ? a.port : b.port, 'contended', `body ${i}`)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(7);
    const winner = results.find((r) => r.status === 201)!.json().sha256;
    expect((await restore(a.port, 'contended')).json().sha256).toBe(winner);
    expect((await restore(b.port, 'contended')).json().sha256).toBe(winner);
  });

  it('misses, and stores again, an entry one instance remembers once gc has removed it from the store', async () => {
    const path = `/cache/bazel/ac/${'ab'.repeat(32)}`;
    const headers = { host: API, authorization: `Bearer ${token}` };
    const put = (port: number, body: string) => raw(port, { method: 'PUT', path, headers: { ...headers, 'content-length': body.length }, body });
    // over the size whose bytes are kept in memory: every hit reads the archive from the store
    const first = 'first '.repeat(12_000);
    expect((await put(a.port, first)).status).toBe(200);
    expect((await raw(a.port, { path, headers })).text).toBe(first); // a knows the entry now
    // what gc does to an expired entry: the entry and its archive go, from under both instances
    const entryKey = layout.entryKey('acme/shared', 'branch:main', `bazel-ac/${'ab'.repeat(32)}`);
    const entry = await readEntry<{ object: string }>(harness.storage, 'cache', entryKey);
    expect(entry).not.toBeNull();
    await harness.storage.delete('cache', entryKey);
    await harness.storage.delete('cache', toStorageKey(entry!.object));
    expect((await raw(a.port, { path, headers })).status).toBe(404);
    expect((await raw(a.port, { path, headers })).status).toBe(404);
    expect((await put(a.port, 'again')).status).toBe(200);
    expect((await raw(b.port, { path, headers })).text).toBe('again');
  });

  it("keeps a small entry's bytes in memory: a second hit asks the store only whether the archive is still there", async () => {
    const digest = 'cd'.repeat(32);
    const path = `/cache/bazel/ac/${digest}`;
    const headers = { host: API, authorization: `Bearer ${token}` };
    expect((await raw(a.port, { method: 'PUT', path, headers: { ...headers, 'content-length': 5 }, body: 'small' })).status).toBe(200);
    expect((await raw(a.port, { path, headers })).text).toBe('small');
    const entry = await readEntry<{ object: string }>(harness.storage, 'cache', layout.entryKey('acme/shared', 'branch:main', `bazel-ac/${digest}`));
    // bytes the store never changes; replaced here only to tell a read from memory
    await harness.storage.write('cache', toStorageKey(entry!.object), Readable.from([Buffer.from('SMALL')]), { contentLength: 5 });
    expect((await raw(a.port, { path, headers })).text).toBe('small');
    expect((await raw(b.port, { path, headers })).text).toBe('SMALL');
    // gone from the store: neither serves it any more, from memory or not
    await harness.storage.delete('cache', toStorageKey(entry!.object));
    expect((await raw(a.port, { path, headers })).status).toBe(404);
    expect((await raw(b.port, { path, headers })).status).toBe(404);
  });

  describe('an entry deleted through one instance', () => {
    const admin = (port: number, query: string) =>
      raw(port, { method: 'DELETE', path: `/api/v1/projects/acme%2Fshared/cache-entries?${query}`, headers: { host: API, authorization: `Bearer ${token}` } });

    it('is no longer restored by the other, which remembered it, and can be saved again there at once', async () => {
      expect((await save(a.port, 'deleted-later', 'old')).status).toBe(201);
      expect((await restore(b.port, 'deleted-later')).status).toBe(200); // b remembers the entry now
      expect((await admin(a.port, 'key=deleted-later')).json()).toMatchObject({ count: 1 });
      expect((await restore(b.port, 'deleted-later')).status).toBe(204);
      expect((await restore(b.port, 'deleted-')).status).toBe(204);
      expect((await save(b.port, 'deleted-later', 'new')).status).toBe(201);
      expect((await restore(a.port, 'deleted-later')).json()).toMatchObject({ size: 3, sha256: createHash('sha256').update('new').digest('hex') });
    });

    it.each([
      ['a small Bazel CAS blob the other serves from memory', 'small blob', 'bazel-cas', 'content-addressed'],
      ['a Bazel action result over the in-memory size', 'large '.repeat(12_000), 'bazel-ac', 'branch:main'],
    ])('is not served any more: %s', async (_what, body, kind, scope) => {
      const digest = kind === 'bazel-cas' ? createHash('sha256').update(body).digest('hex') : 'ef'.repeat(32);
      const path = `/cache/bazel/${kind === 'bazel-cas' ? 'cas' : 'ac'}/${digest}`;
      const headers = { host: API, authorization: `Bearer ${token}` };
      expect((await raw(a.port, { method: 'PUT', path, headers: { ...headers, 'content-length': body.length }, body })).status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await raw(b.port, { path, headers })).text).toBe(body);
      expect((await raw(b.port, { method: 'HEAD', path, headers })).status).toBe(200);
      expect((await admin(a.port, `key=${kind}%2F${digest}&scope=${encodeURIComponent(scope)}`)).json()).toMatchObject({ count: 1 });
      expect((await raw(b.port, { path, headers })).status).toBe(404);
      expect((await raw(b.port, { method: 'HEAD', path, headers })).status).toBe(404);
      expect((await raw(a.port, { path, headers })).status).toBe(404);
    });
  });

  it('serves on one instance an origin first published through the other', async () => {
    const put = await raw(a.port, {
      method: 'PUT',
      path: '/api/v1/projects/acme%2Fshared/builds/1/artifacts/index.html',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': 9 },
      body: '<p>shared',
    });
    expect(put.status).toBe(201);
    const host = new URL(put.json().url).host;
    const res = await raw(b.port, { path: '/1/index.html', headers: { host } });
    expect(res.status).toBe(401); // private by default: found, and asking for a ticket
  });
});
