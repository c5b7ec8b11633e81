import { randomUUID } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/s3/client';
import { runGc } from '../../src/retention/gc';
import { toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import type { Storage } from '../../src/storage/storage';
import { indexName } from '../../src/caches/layout';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { listen, raw, type Listening } from '../support/raw-http';
import { makeTar } from '../support/tar-builder';

const API = 'localhost:8080';
const DAY = 86_400_000;

describe.each(DRIVERS)('retention (gc) on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  let t0: number;

  beforeEach(async () => {
    // a fresh store per test: gc works on whole buckets
    t = await makeTestApp(driver, { CACHE_QUOTA_BYTES: '2500', CACHE_TTL_DAYS: '7', ARTIFACT_RETENTION_DAYS: '30' });
    srv = await listen(t.callback);
    t0 = t.clock.now;
  });
  afterEach(async () => {
    await srv.close();
    await t.cleanup();
  });

  const gc = () => runGc({ storage: t.harness.storage, config: t.harness.config, logger: t.log.logger, now: () => t.clock.now });
  async function save(key: string, size: number, project = 'acme/web') {
    const res = await raw(srv.port, {
      method: 'PUT',
      path: `/api/v1/projects/${encodeURIComponent(project)}/caches/${key}`,
      headers: { host: API, authorization: `Bearer ${await t.token({ project })}`, 'content-length': size },
      body: Buffer.alloc(size, 1),
    });
    expect(res.status).toBe(201);
  }
  async function restore(key: string, project = 'acme/web') {
    const res = await raw(srv.port, {
      path: `/api/v1/projects/${encodeURIComponent(project)}/caches?keys=${key}`,
      headers: { host: API, authorization: `Bearer ${await t.token({ project })}` },
    });
    return res.status;
  }
  const objects = async (bucket: 'cache' | 'artifacts') =>
    (await t.harness.storage.list(bucket, toKeyPrefix('p/'))).items.filter((i) => i.key.includes('/o/')).length;

  it('deletes cache entries unused for CACHE_TTL_DAYS, keeping the ones restored since', async () => {
    await save('used', 100);
    await save('unused', 100);
    t.clock.now = t0 + 6 * DAY;
    expect(await restore('used')).toBe(200);
    t.clock.now = t0 + 8 * DAY;
    const report = await gc();
    expect(report).toMatchObject({ cacheExpired: 1, cacheEvicted: 0 });
    expect(await restore('unused')).toBe(204);
    expect(await restore('used')).toBe(200);
    expect(await objects('cache')).toBe(1);
    const line = t.log.lines.find((l) => l.audit === 'cache.evict');
    expect(line).toMatchObject({ why: 'ttl', what: { project: 'acme/web', key: 'unused', scope: 'branch:main', size: 100 } });
  });

  it('keeps everything younger than the TTL', async () => {
    await save('fresh', 100);
    t.clock.now = t0 + 6 * DAY;
    expect(await gc()).toMatchObject({ cacheExpired: 0, cacheEvicted: 0, orphansRemoved: 0 });
    expect(await restore('fresh')).toBe(200);
  });

  it('evicts least recently used entries above CACHE_QUOTA_BYTES, per project', async () => {
    await save('first', 1000);
    t.clock.now += 1000;
    await save('second', 1000);
    t.clock.now += 1000;
    await save('third', 1000);
    t.clock.now += 1000;
    await save('other-project', 2000, 'acme/api'); // alone under its own quota
    t.clock.now += 1000;
    expect(await restore('first')).toBe(200); // now the most recently used
    const report = await gc();
    expect(report).toMatchObject({ cacheEvicted: 1, cacheExpired: 0, bytesFreed: 1000 });
    expect(await restore('second')).toBe(204);
    expect(await restore('first')).toBe(200);
    expect(await restore('third')).toBe(200);
    expect(await restore('other-project', 'acme/api')).toBe(200);
  });

  it('deletes artifacts older than ARTIFACT_RETENTION_DAYS', async () => {
    const res = await raw(srv.port, {
      method: 'PUT',
      path: '/api/v1/projects/acme%2Fweb/builds/100/artifacts/report/index.html',
      headers: { host: API, authorization: `Bearer ${await t.token()}`, 'content-length': 5 },
      body: 'hello',
    });
    expect(res.status).toBe(201);
    t.clock.now = t0 + 29 * DAY;
    expect((await gc()).artifactsExpired).toBe(0);
    t.clock.now = t0 + 31 * DAY;
    expect((await gc()).artifactsExpired).toBe(1);
    const list = await raw(srv.port, {
      path: '/api/v1/projects/acme%2Fweb/builds/100/artifacts',
      headers: { host: API, authorization: `Bearer ${await t.token()}` },
    });
    expect(list.json().items).toEqual([]);
    expect(await objects('artifacts')).toBe(0);
    // the build's record and newest-first names went with its last file: the home page forgets it
    expect((await t.harness.storage.list('artifacts', toKeyPrefix('p/'))).items.map((i) => i.key)).toEqual([]);
  });

  it("keeps a build's record while it has files, and drops its stored counts when some of them expire", async () => {
    const put = async (path: string) => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/acme%2Fweb/builds/100/artifacts/${path}`,
        headers: { host: API, authorization: `Bearer ${await t.token()}`, 'content-length': 5 },
        body: 'hello',
      });
      expect(res.status).toBe(201);
    };
    const builds = async () =>
      (await raw(srv.port, { path: '/api/v1/projects/acme%2Fweb/builds', headers: { host: API, authorization: `Bearer ${await t.token()}` } })).json();
    await put('old.txt');
    t.clock.now = t0 + 20 * DAY;
    await put('new.txt');
    expect((await builds()).items[0]).toMatchObject({ build: '100', files: 2 });
    t.clock.now = t0 + 31 * DAY;
    expect((await gc()).artifactsExpired).toBe(1);
    const keys = (await t.harness.storage.list('artifacts', toKeyPrefix('p/'))).items.map((i) => i.key);
    expect(keys.filter((k) => /\/b\/100\/m\//.test(k))).toEqual(['p/acme%2Fweb/b/100/m/record', 'p/acme%2Fweb/b/100/m/touched']);
    expect((await builds()).items[0]).toMatchObject({ build: '100', files: 1, bytes: 5 });
  });

  describe('expire_in, never, pinning and deleted builds', () => {
    const put = async (build: string, path: string, expireIn?: string) => {
      const query = expireIn === undefined ? '' : `?expire_in=${encodeURIComponent(expireIn)}`;
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/acme%2Fweb/builds/${build}/artifacts/${path}${query}`,
        headers: { host: API, authorization: `Bearer ${await t.token({ build })}`, 'content-length': 5 },
        body: 'hello',
      });
      expect(res.status).toBe(201);
    };
    const admin = async (method: string, path: string) =>
      raw(srv.port, {
        method,
        path: `/api/v1/projects/acme%2Fweb/builds/${path}`,
        headers: { host: API, authorization: `Bearer ${await t.token({ build: 'admin', scope: 'artifacts:read artifacts:delete' })}` },
      });
    const keysOf = async (build: string) =>
      (await t.harness.storage.list('artifacts', toKeyPrefix(`p/acme%2Fweb/b/${build}/`))).items.map((i) => i.key.slice(`p/acme%2Fweb/b/${build}/`.length));

    it('removes files at their expire_in, before ARTIFACT_RETENTION_DAYS, with the build once its last file went, and audits why', async () => {
      await put('7', 'soon.txt', '3 days');
      t.clock.now = t0 + 2 * DAY;
      expect((await gc()).artifactsExpired).toBe(0);
      t.clock.now = t0 + 3 * DAY + 1000;
      expect(await gc()).toMatchObject({ artifactsExpired: 1, bytesFreed: 5 });
      expect(await keysOf('7')).toEqual([]);
      expect(await objects('artifacts')).toBe(0);
      expect(t.log.lines.find((l) => l.audit === 'artifact.expire')).toMatchObject({
        why: 'expire_in',
        what: { project: 'acme/web', build: '7', path: 'soon.txt', size: 5 },
      });
    });

    it('keeps files uploaded with expire_in=never past ARTIFACT_RETENTION_DAYS, and longer expire_in too', async () => {
      await put('8', 'never.txt', 'never');
      await put('8', 'long.txt', '1 year');
      await put('8', 'default.txt');
      t.clock.now = t0 + 31 * DAY;
      expect(await gc()).toMatchObject({ artifactsExpired: 1 });
      expect((await keysOf('8')).filter((k) => k.startsWith('f/'))).toEqual(['f/long.txt', 'f/never.txt']);
      t.clock.now = t0 + 366 * DAY;
      expect(await gc()).toMatchObject({ artifactsExpired: 1 });
      expect((await keysOf('8')).filter((k) => k.startsWith('f/'))).toEqual(['f/never.txt']);
    });

    it('skips a pinned build, for ARTIFACT_RETENTION_DAYS and expire_in alike, until it is unpinned', async () => {
      await put('9', 'default.txt');
      await put('9', 'short.txt', '1 day');
      expect((await admin('PUT', '9/pin')).status).toBe(200);
      t.clock.now = t0 + 31 * DAY;
      expect(await gc()).toMatchObject({ artifactsExpired: 0, orphansRemoved: 0 });
      expect((await keysOf('9')).filter((k) => k.startsWith('f/'))).toEqual(['f/default.txt', 'f/short.txt']);
      expect(await objects('artifacts')).toBe(2);
      expect((await admin('DELETE', '9/pin')).status).toBe(200);
      expect(await gc()).toMatchObject({ artifactsExpired: 2 });
      expect(await keysOf('9')).toEqual([]);
    });

    it("keeps a deleted build's record and mark (its id refused) until ARTIFACT_RETENTION_DAYS, then frees it", async () => {
      await put('10', 'a.txt');
      await put('10', 'b.txt');
      expect((await admin('DELETE', '10/artifacts/a.txt')).status).toBe(200);
      expect((await admin('DELETE', '10')).status).toBe(200);
      expect(await keysOf('10')).toEqual(['m/deleted', 'm/record']);
      expect(await gc()).toMatchObject({ artifactsExpired: 0 });
      expect(await keysOf('10')).toEqual(['m/deleted', 'm/record']);
      t.clock.now = t0 + 31 * DAY;
      await gc();
      expect(await keysOf('10')).toEqual([]);
    });

    it("removes a deleted file's mark with its build", async () => {
      await put('11', 'a.txt');
      expect((await admin('DELETE', '11/artifacts/a.txt')).status).toBe(200);
      expect(await keysOf('11')).toEqual(['f/a.txt', 'm/record', 'm/touched']);
      t.clock.now = t0 + 31 * DAY;
      await gc();
      expect(await keysOf('11')).toEqual([]);
    });
  });

  it('walks storage a page at a time, one project after another, and collects what one big page would', async () => {
    const upload = async (project: string, build: string, path: string) => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path}`,
        headers: { host: API, authorization: `Bearer ${await t.token({ project, build })}`, 'content-length': 5 },
        body: 'hello',
      });
      expect(res.status).toBe(201);
    };
    for (const path of ['a.txt', 'b/c.txt', 'd.txt']) await upload('acme/web', '1', path);
    for (const path of ['x.txt', 'y.txt']) await upload('acme/api', '7', path);
    for (const [bucket, project] of [
      ['cache', 'acme%2Fapi'],
      ['artifacts', 'acme%2Fdocs'],
    ] as const) {
      await t.harness.storage.write(bucket, toStorageKey(`p/${project}/o/${randomUUID()}`), Readable.from([Buffer.from('orphan')]));
    }
    t.clock.now = Date.now() + 31 * DAY; // the artifacts and orphans are old, the caches saved now are not
    for (const key of ['deps-a1', 'deps-a2', 'deps-a3', 'deps-a4']) {
      await save(key, 1000); // four over a quota of 2500: the two least recently used go
      t.clock.now += 1000;
    }
    for (const key of ['deps-b1', 'deps-b2', 'deps-b3']) await save(key, 100, 'acme/api');
    await save('deps-c1', 100, 'acme/docs');

    // what gc asks of storage: never a page over 2 items, never a listing of every project's keys
    const inner = t.harness.storage;
    const pages: number[] = [];
    const recursive: string[] = [];
    const paged: Storage = {
      ...inner,
      list: async (bucket, prefix, options) => {
        recursive.push(prefix);
        const page = await inner.list(bucket, prefix, options);
        pages.push(page.items.length);
        return page;
      },
      listPrefixes: async (bucket, prefix, options) => {
        const page = await inner.listPrefixes(bucket, prefix, options);
        pages.push(page.prefixes.length);
        return page;
      },
    };
    const report = await runGc({ storage: paged, config: t.harness.config, logger: t.log.logger, now: () => t.clock.now, pageSize: 2 });
    expect(report).toEqual({
      cacheExpired: 0,
      cacheEvicted: 2,
      artifactsExpired: 5,
      bundleFilesRemoved: 0,
      orphansRemoved: 2,
      uploadsAborted: 0,
      abandonedWritesRemoved: 0,
      bytesFreed: 2 * 1000 + 5 * 5,
    });
    expect(Math.max(...pages)).toBe(2);
    expect(recursive.filter((p) => !/^p\/[^/]+\/[a-z]\//.test(p))).toEqual([]);
    expect(await restore('deps-a1')).toBe(204);
    expect(await restore('deps-a2')).toBe(204);
    expect(await restore('deps-a3')).toBe(200);
    expect(await restore('deps-b1', 'acme/api')).toBe(200);
    expect(await restore('deps-c1', 'acme/docs')).toBe(200);
    expect(await objects('artifacts')).toBe(0);
    expect(await objects('cache')).toBe(2 + 3 + 1);
    // and a pass with storage's own page size finds nothing left to do
    expect(await gc()).toMatchObject({ cacheEvicted: 0, artifactsExpired: 0, orphansRemoved: 0 });
  });

  it("removes the files of bundles that never committed: an aborted one's at once, a dead gateway's a day after it began; never a committed bundle's", async () => {
    const token = await t.token({ build: '200' });
    const tar = makeTar([
      { path: 'cov/index.html', body: '<p>kept</p>' },
      { path: 'cov/app.js', body: 'kept()' },
    ]);
    const posted = await raw(srv.port, {
      method: 'POST',
      path: '/api/v1/projects/acme%2Fweb/builds/200/artifacts?bundle=tar',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-type': 'application/x-tar', 'content-length': tar.length },
      body: tar,
    });
    expect(posted.status).toBe(201);
    // what a refused bundle whose clean-up failed leaves, and what a gateway killed mid-bundle leaves
    const leave = async (path: string, bundle: string, record?: object) => {
      const object = `p/acme%2Fweb/o/${randomUUID()}`;
      await t.harness.storage.write('artifacts', toStorageKey(object), Readable.from([Buffer.from('12345')]));
      const entry = {
        path,
        object,
        size: 5,
        sha256: '0'.repeat(64),
        contentType: 'text/plain',
        createdAt: new Date(t.clock.now).toISOString(),
        uploader: { subject: 'job', project: 'acme/web', build: '201', branch: 'main', trusted: true },
        bundle,
      };
      await t.harness.storage.write('artifacts', toStorageKey(`p/acme%2Fweb/b/201/f/${path}`), Readable.from([Buffer.from(JSON.stringify(entry))]));
      if (record)
        await t.harness.storage.write('artifacts', toStorageKey(`p/acme%2Fweb/b/201/u/${bundle}`), Readable.from([Buffer.from(JSON.stringify(record))]));
    };
    await leave('aborted.txt', randomUUID(), { state: 'aborted', at: new Date(t.clock.now).toISOString() });
    await leave('pending.txt', randomUUID());
    expect(await objects('artifacts')).toBe(4);

    // the pending one may still be arriving: kept, bytes too
    expect(await gc()).toMatchObject({ bundleFilesRemoved: 1, orphansRemoved: 0, artifactsExpired: 0, bytesFreed: 5 });
    expect(await objects('artifacts')).toBe(3);
    t.clock.now = t0 + 23 * 3_600_000;
    expect((await gc()).bundleFilesRemoved).toBe(0);
    t.clock.now = t0 + 25 * 3_600_000;
    expect(await gc()).toMatchObject({ bundleFilesRemoved: 1, artifactsExpired: 0 });
    expect(await objects('artifacts')).toBe(2);
    expect((await t.harness.storage.list('artifacts', toKeyPrefix('p/acme%2Fweb/b/201/f/'))).items).toEqual([]);
    // the committed bundle's files are all still there
    const listed = await raw(srv.port, {
      path: '/api/v1/projects/acme%2Fweb/builds/200/artifacts',
      headers: { host: API, authorization: `Bearer ${await t.token({ build: '200' })}` },
    });
    expect(
      listed
        .json()
        .items.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['cov/app.js', 'cov/index.html']);
  });

  it('removes objects no entry refers to once they are a day old, and never younger ones', async () => {
    await save('kept', 100);
    for (const bucket of ['cache', 'artifacts'] as const) {
      await t.harness.storage.write(bucket, toStorageKey(`p/acme%2Fweb/o/${randomUUID()}`), Readable.from([Buffer.from('orphan')]));
    }
    expect((await gc()).orphansRemoved).toBe(0);
    t.clock.now = Date.now() + 2 * DAY;
    expect((await gc()).orphansRemoved).toBe(2);
    expect(await objects('cache')).toBe(1);
    expect(await objects('artifacts')).toBe(0);
  });

  it('deletes the restore-prefix index names of evicted entries, and dangling names once a day old', async () => {
    const names = async () => (await t.harness.storage.list('cache', toKeyPrefix('p/'))).items.filter((i) => i.key.includes('/n/')).map((i) => i.key);
    // a save that crashed between writing its index names and its entry
    const dangling = indexName('acme/web', 'branch:main', 'deps-', 'deps-crashed', t0);
    await t.harness.storage.write('cache', dangling, Readable.from([]), { contentLength: 0 });
    expect(await gc()).toMatchObject({ orphansRemoved: 0 }); // young: its save may still be running
    expect(await names()).toEqual([dangling]);

    await save('deps-linux-old', 100);
    t.clock.now = t0 + 6 * DAY;
    await save('deps-linux-new', 100);
    expect(await names()).toHaveLength(5); // deps- and deps-linux- for each, and the dangling one
    t.clock.now = t0 + 8 * DAY;
    // the dangling name is the one orphan: what eviction deleted is not counted again
    expect(await gc()).toMatchObject({ cacheExpired: 1, orphansRemoved: 1 });
    const left = await names();
    expect(left).toHaveLength(2);
    expect(left.every((k) => k.endsWith('/deps-linux-new'))).toBe(true);
  });

  /** What a write killed mid-way leaves where no listing shows it: an fs temp file, an S3 multipart upload. */
  async function leaveCutOffWrite(): Promise<() => Promise<boolean>> {
    const sc = t.harness.config.storage;
    if (sc.driver === 'fs') {
      await mkdir(join(sc.dataDir, 'artifacts'), { recursive: true });
      const tmp = join(sc.dataDir, 'artifacts', '\\tmp-0011223344556677');
      await writeFile(tmp, 'half a write');
      return () =>
        access(tmp).then(
          () => true,
          () => false,
        );
    }
    const s3 = sc;
    const client = createS3Client(s3);
    await client.send(new CreateMultipartUploadCommand({ Bucket: s3.artifactsBucket, Key: 'p/acme%2Fweb/o/cut-off' }));
    return async () => {
      const out = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.artifactsBucket }));
      return (out.Uploads ?? []).some((u) => u.Key === 'p/acme%2Fweb/o/cut-off');
    };
  }

  it('removes writes a crash cut off, which no listing shows, once older than a direct upload may take and a day', async () => {
    const present = await leaveCutOffWrite();
    expect((await gc()).abandonedWritesRemoved).toBe(0);
    t.clock.now = t0 + DAY; // CACHE_UPLOAD_TTL (an hour) and a day have not passed yet
    expect((await gc()).abandonedWritesRemoved).toBe(0);
    expect(await present()).toBe(true);
    t.clock.now = t0 + 2 * DAY;
    expect((await gc()).abandonedWritesRemoved).toBe(1);
    expect(await present()).toBe(false);
  });

  it('aborts direct uploads that were never committed', async () => {
    const body = JSON.stringify({ size: 10, sha256: 'a'.repeat(64) });
    const res = await raw(srv.port, {
      method: 'POST',
      path: '/api/v1/projects/acme%2Fweb/caches/never/uploads',
      headers: { host: API, authorization: `Bearer ${await t.token()}`, 'content-type': 'application/json', 'content-length': body.length },
      body,
    });
    expect(res.status).toBe(201);
    expect((await gc()).uploadsAborted).toBe(0);
    t.clock.now = t0 + 3 * DAY;
    expect((await gc()).uploadsAborted).toBe(1);
    expect((await t.harness.storage.list('cache', toKeyPrefix('p/acme%2Fweb/r/'))).items).toEqual([]);
  });

  it('removes an abandoned Actions cache save: its reservation, staged blocks and uploaded archive', async () => {
    const token = await t.token();
    const body = JSON.stringify({ key: 'abandoned', version: 'v1' });
    const created = await raw(srv.port, {
      method: 'POST',
      path: '/twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': body.length },
      body,
    });
    const url = new URL(created.json().signed_upload_url as string);
    const put = (query: string, headers: Record<string, string> = {}) =>
      raw(srv.port, {
        method: 'PUT',
        path: `${url.pathname}${url.search}${query}`,
        headers: { host: API, 'content-length': 10, ...headers },
        body: Buffer.alloc(10, 2),
      });
    expect((await put('&comp=block&blockid=AAAA')).status).toBe(201);
    expect((await put('', { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(201);
    const left = async () => (await t.harness.storage.list('cache', toKeyPrefix('p/acme%2Fweb/'))).items.length;
    expect(await left()).toBe(3); // the reservation, the block, the archive
    expect(await gc()).toMatchObject({ uploadsAborted: 0, orphansRemoved: 0 });
    t.clock.now = t0 + 3 * DAY;
    expect(await gc()).toMatchObject({ uploadsAborted: 1, orphansRemoved: 2 });
    expect(await left()).toBe(0);
  });
});
