/**
 * Deleting builds and paths, pinning, and expire_in, on both drivers, through the API as a
 * cleanup job would, and read back as browsers, scripts and CI jobs read: the download API, the
 * listing, the project's home page, the builds API and `/-/latest/` links.
 */
import { originLabel } from '../../src/artifacts/labels';
import { toKeyPrefix } from '../../src/storage/keys';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, type Listening } from '../support/raw-http';
import { makeTar } from '../support/tar-builder';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const PROJECT = 'acme/docs';
const ALL = 'artifacts:write artifacts:read artifacts:delete';
const enc = (path: string) => path.split('/').map(encodeURIComponent).join('/');
const api = (build: string, rest = '', project = PROJECT) => `/api/v1/projects/${encodeURIComponent(project)}/builds/${build}${rest}`;

describe.each(DRIVERS)('deleting, pinning and expiry on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const origin = `${originLabel(PROJECT)}.localhost:8080`;

  beforeAll(async () => {
    t = await makeTestApp(driver, { PUBLIC_PROJECTS: PROJECT });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  const upload = async (build: string, path: string, body: string, options: { branch?: string; query?: string } = {}) => {
    const token = await t.token({ project: PROJECT, build, branch: options.branch ?? 'main' });
    return raw(srv.port, {
      method: 'PUT',
      path: api(build, `/artifacts/${enc(path)}${options.query ?? ''}`),
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
  };
  const uploaded = async (build: string, path: string, body: string, options: { branch?: string; query?: string } = {}) => {
    const res = await upload(build, path, body, options);
    expect(res.status).toBe(201);
    return res.json();
  };
  // a fresh admin token each time: some tests move the clock past a token's lifetime
  const call = async (method: string, path: string, token?: string | null) => {
    const bearer = token === undefined ? await t.token({ project: PROJECT, build: 'admin', scope: ALL }) : token;
    return raw(srv.port, { method, path, headers: { host: API, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) } });
  };
  const download = (build: string, path: string) => call('GET', api(build, `/artifacts/${enc(path)}`));
  const listed = async (build: string) => ((await call('GET', api(build, '/artifacts'))).json().items as Array<{ path: string }>).map((i) => i.path);
  const builds = async () =>
    (await call('GET', `/api/v1/projects/${encodeURIComponent(PROJECT)}/builds?pageSize=100`)).json().items as Array<Record<string, any>>;
  const homeBuilds = async () => {
    const res = await rawHttp(srv.port, { path: '/?pageSize=100', headers: { host: origin, accept: 'application/json' } });
    expect(res.status).toBe(200);
    return (res.json().items as Array<{ build: string }>).map((b) => b.build);
  };
  const objects = async () => (await t.harness.storage.list('artifacts', toKeyPrefix('p/'))).items.filter((i) => i.key.includes('/o/')).map((i) => i.key);

  describe('DELETE a build', () => {
    it('deletes every file and its bytes at once, leaves the builds list and home page, and writes one audit line', async () => {
      await uploaded('d1', 'report/index.html', '<h1>one</h1>');
      await uploaded('d1', 'report/app.js', 'console.log(1)');
      await uploaded('d1', 'junit.xml', '<testsuites/>');
      expect(await homeBuilds()).toContain('d1');
      const before = (await objects()).length;

      const res = await call('DELETE', api('d1'));
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ project: PROJECT, build: 'd1', path: null, files: 3, bytes: 12 + 14 + 13 });
      expect((await objects()).length).toBe(before - 3);
      expect((await download('d1', 'junit.xml')).status).toBe(404);
      expect(await listed('d1')).toEqual([]);
      expect((await builds()).map((b) => b.build)).not.toContain('d1');
      expect(await homeBuilds()).not.toContain('d1');
      const page = await rawHttp(srv.port, { path: '/d1/report/index.html', headers: { host: origin } });
      expect(page.status).toBe(404);
      const lines = t.log.lines.filter((l) => l.audit === 'artifact.delete' && (l.what as { build: string }).build === 'd1');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        who: { subject: `${PROJECT}#admin`, project: PROJECT },
        what: { project: PROJECT, build: 'd1', path: null, files: 3, bytes: 39 },
      });
    });

    it('refuses uploads into a deleted build with 409 (its paths are not reused), and a second deletion with 404', async () => {
      await uploaded('d2', 'a.txt', 'first');
      expect((await call('DELETE', api('d2'))).status).toBe(200);
      const again = await upload('d2', 'a.txt', 'other bytes');
      expect(again.status).toBe(409);
      expect(again.json().error.message).toMatch(/build d2 was deleted/);
      expect((await upload('d2', 'new.txt', 'new')).status).toBe(409);
      expect((await call('DELETE', api('d2'))).status).toBe(404);
    });

    it('sends /-/latest/ links to the next newest build that has the path', async () => {
      await uploaded('l1', 'coverage/index.html', '<h1>older</h1>', { branch: 'rel' });
      t.clock.now += 1000;
      await uploaded('l2', 'coverage/index.html', '<h1>newer</h1>', { branch: 'rel' });
      const latest = () => rawHttp(srv.port, { path: '/-/latest/rel/coverage/index.html', headers: { host: origin } });
      expect((await latest()).headers.location).toBe('/l2/coverage/index.html');
      expect((await call('DELETE', api('l2'))).status).toBe(200);
      expect((await latest()).headers.location).toBe('/l1/coverage/index.html');
    });

    it('answers 404 for a build that never had a file', async () => {
      expect((await call('DELETE', api('never-there'))).status).toBe(404);
    });

    it('leaves no upload standing that raced the deletion', async () => {
      await uploaded('race', 'seed.txt', 'seed');
      const files = Array.from({ length: 20 }, (_, i) => `f/${i}.txt`);
      const [deleted, ...uploads] = await Promise.all([call('DELETE', api('race')), ...files.map((f) => upload('race', f, `bytes of ${f}`))]);
      expect(deleted.status).toBe(200);
      for (const u of uploads) expect([201, 409]).toContain(u.status);
      // whatever landed first was deleted with the build, whatever came later was refused
      expect(await listed('race')).toEqual([]);
      for (const f of files) expect((await download('race', f)).status).toBe(404);
    });
  });

  describe('DELETE a path', () => {
    it('deletes one file: gone from reads and listings, its path refused with 409 afterwards, the rest kept', async () => {
      await uploaded('p1', 'keep.txt', 'kept');
      await uploaded('p1', 'drop.txt', 'dropped');
      const res = await call('DELETE', api('p1', '/artifacts/drop.txt'));
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ project: PROJECT, build: 'p1', path: 'drop.txt', files: 1, bytes: 7 });
      expect((await download('p1', 'drop.txt')).status).toBe(404);
      expect((await rawHttp(srv.port, { path: '/p1/drop.txt', headers: { host: origin } })).status).toBe(404);
      expect(await listed('p1')).toEqual(['keep.txt']);
      const again = await upload('p1', 'drop.txt', 'other');
      expect(again.status).toBe(409);
      expect(again.json().error.message).toMatch(/was deleted/);
      expect(t.log.lines.find((l) => l.audit === 'artifact.delete' && (l.what as { path: string }).path === 'drop.txt')).toMatchObject({
        what: { project: PROJECT, build: 'p1', path: 'drop.txt', files: 1, bytes: 7 },
      });
    });

    it('deletes a directory, with or without its slash, and the build list recounts', async () => {
      await uploaded('p2', 'report/index.html', '<h1>r</h1>');
      await uploaded('p2', 'report/data/x.json', '{}');
      await uploaded('p2', 'other/y.txt', 'y');
      await uploaded('p2', 'site/a.txt', 'a');
      const counted = async () => (await builds()).find((b) => b.build === 'p2')!;
      expect((await counted()).files).toBe(4);
      const res = await call('DELETE', api('p2', '/artifacts/report/'));
      expect(res.json()).toEqual({ project: PROJECT, build: 'p2', path: 'report/', files: 2, bytes: 12 });
      const noSlash = await call('DELETE', api('p2', '/artifacts/site'));
      expect(noSlash.json()).toMatchObject({ path: 'site/', files: 1 });
      expect(await listed('p2')).toEqual(['other/y.txt']);
      expect((await rawHttp(srv.port, { path: '/p2/report/', headers: { host: origin } })).status).toBe(404);
      expect((await counted()).files).toBe(1);
    });

    it('sends a latest link for a deleted directory to an older build that has it', async () => {
      await uploaded('ld1', 'cov/index.html', '<h1>1</h1>', { branch: 'dirs' });
      t.clock.now += 1000;
      await uploaded('ld2', 'cov/index.html', '<h1>2</h1>', { branch: 'dirs' });
      await uploaded('ld2', 'cov/more.html', '<h1>2</h1>', { branch: 'dirs' });
      expect((await call('DELETE', api('ld2', '/artifacts/cov/'))).status).toBe(200);
      const res = await rawHttp(srv.port, { path: '/-/latest/dirs/cov/', headers: { host: origin } });
      expect(res.headers.location).toBe('/ld1/cov/');
    });

    it('answers 404 for a path that holds nothing', async () => {
      await uploaded('p3', 'a.txt', 'a');
      expect((await call('DELETE', api('p3', '/artifacts/nothing.txt'))).status).toBe(404);
      expect((await call('DELETE', api('p3', '/artifacts/a.txt/'))).status).toBe(404);
      expect((await call('DELETE', api('nobuild', '/artifacts/a.txt'))).status).toBe(404);
    });

    it.each([
      ['a traversal', '/artifacts/..%2Fx'],
      ['an encoded traversal', '/artifacts/a/%252e%252e/b'],
      ['an empty segment', '/artifacts/a//b'],
      ['a backslash', '/artifacts/a%5Cb'],
    ])('refuses %s with 400 and deletes nothing', async (_, rest) => {
      expect([200, 201]).toContain((await upload('p4', 'a/b', 'b')).status);
      const res = await call('DELETE', api('p4', rest));
      expect(res.status).toBe(400);
      expect(await listed('p4')).toEqual(['a/b']);
    });

    it('refuses a bad build id with 400', async () => {
      expect((await call('DELETE', api('.bad'))).status).toBe(400);
    });
  });

  describe('who may delete', () => {
    it('refuses a token without artifacts:delete with 403, and deletes nothing', async () => {
      await uploaded('w1', 'a.txt', 'a');
      const writer = await t.token({ project: PROJECT, build: 'w1' });
      for (const path of [api('w1'), api('w1', '/artifacts/a.txt')]) {
        const res = await call('DELETE', path, writer);
        expect(res.status).toBe(403);
        expect(res.json().error.message).toMatch(/artifacts:delete/);
      }
      expect(await listed('w1')).toEqual(['a.txt']);
    });

    it("refuses another project's token with 403", async () => {
      await uploaded('w2', 'a.txt', 'a');
      const other = await t.token({ project: 'acme/other', build: 'w2', scope: ALL });
      expect((await call('DELETE', api('w2'), other)).status).toBe(403);
      expect((await call('DELETE', api('w2', '/artifacts/a.txt'), other)).status).toBe(403);
      expect(await listed('w2')).toEqual(['a.txt']);
    });

    it('refuses no token with 401', async () => {
      expect((await call('DELETE', api('w2'), null)).status).toBe(401);
    });
  });

  describe('pinning', () => {
    it('pins and unpins with audit lines, shown on the builds API and the home page', async () => {
      await uploaded('pin1', 'a.txt', 'a');
      const pinned = await call('PUT', api('pin1', '/pin'));
      expect(pinned.status).toBe(200);
      expect(pinned.json()).toEqual({ project: PROJECT, build: 'pin1', pinned: true });
      expect((await builds()).find((b) => b.build === 'pin1')!.pinned).toBe(true);
      const html = await rawHttp(srv.port, { path: '/?pageSize=100', headers: { host: origin, accept: 'text/html' } });
      expect(html.body.toString()).toMatch(/pin1<\/a> <small[^>]*>pinned<\/small>/);
      const unpinned = await call('DELETE', api('pin1', '/pin'));
      expect(unpinned.json()).toEqual({ project: PROJECT, build: 'pin1', pinned: false });
      expect((await builds()).find((b) => b.build === 'pin1')!.pinned).toBe(false);
      expect(t.log.lines.filter((l) => (l.audit === 'artifact.pin' || l.audit === 'artifact.unpin') && (l.what as { build: string }).build === 'pin1')).toEqual(
        [
          expect.objectContaining({ audit: 'artifact.pin', what: { project: PROJECT, build: 'pin1' }, changed: true }),
          expect.objectContaining({ audit: 'artifact.unpin', what: { project: PROJECT, build: 'pin1' }, changed: true }),
        ],
      );
    });

    it('lets a job pin its own build with artifacts:write, but not another build, nor unpin', async () => {
      await uploaded('pin2', 'a.txt', 'a');
      const own = await t.token({ project: PROJECT, build: 'pin2' });
      expect((await call('PUT', api('pin2', '/pin'), own)).status).toBe(200);
      expect((await call('DELETE', api('pin2', '/pin'), own)).status).toBe(403);
      const otherBuild = await t.token({ project: PROJECT, build: 'pin3' });
      expect((await call('PUT', api('pin2', '/pin'), otherBuild)).status).toBe(403);
    });

    it('answers 404 for a build that has nothing', async () => {
      expect((await call('PUT', api('nothing-here', '/pin'))).status).toBe(404);
    });
  });

  describe('expire_in on upload', () => {
    it('stores when the file expires, answers 404 once it has, and serves it again while the build is pinned', async () => {
      const body = await uploaded('e1', 'short.txt', 'short-lived', { query: '?expire_in=30%20mins' });
      expect(Date.parse(body.expiresAt) - t.clock.now).toBe(30 * 60_000);
      const never = await uploaded('e1', 'forever.txt', 'kept', { query: '?expire_in=never' });
      expect(never.expiresAt).toBeNull();
      await uploaded('e1', 'default.txt', 'default');
      t.clock.now += 31 * 60_000;
      expect((await download('e1', 'short.txt')).status).toBe(404);
      expect((await rawHttp(srv.port, { path: '/e1/short.txt', headers: { host: origin } })).status).toBe(404);
      expect(await listed('e1')).toEqual(['default.txt', 'forever.txt']);
      expect((await call('PUT', api('e1', '/pin'))).status).toBe(200);
      expect((await download('e1', 'short.txt')).status).toBe(302);
    });

    it('takes GitLab forms on a bundle too', async () => {
      const tar = makeTar([
        { path: 'b/one.txt', body: 'one' },
        { path: 'b/two.txt', body: 'two' },
      ]);
      const token = await t.token({ project: PROJECT, build: 'e2' });
      const res = await raw(srv.port, {
        method: 'POST',
        path: api('e2', '/artifacts?bundle=tar&expire_in=2h20min'),
        headers: { host: API, authorization: `Bearer ${token}`, 'content-length': tar.length, 'content-type': 'application/x-tar' },
        body: tar,
      });
      expect(res.status).toBe(201);
      const items = (await call('GET', api('e2', '/artifacts'))).json().items as Array<{ expiresAt: string }>;
      expect(items.map((i) => Date.parse(i.expiresAt) - t.clock.now)).toEqual([8_400_000, 8_400_000]);
    });

    it.each(['3 days banana', 'soon', '0', '101 years', '-3 days', '3 fortnights'])('refuses expire_in=%j with 400 and stores nothing', async (value) => {
      const res = await upload('e3', 'x.txt', 'x', { query: `?expire_in=${encodeURIComponent(value)}` });
      expect(res.status).toBe(400);
      expect(res.json().error.code).toBe('invalid_expire_in');
      expect((await download('e3', 'x.txt')).status).toBe(404);
    });
  });
});
