/**
 * A project's builds, on both drivers: the home page `/` of its origin (HTML and JSON), the
 * builds API, and `/-/latest/<branch>/<path>` links, all through the app as browsers, scripts and
 * CI jobs reach them.
 */
import { originLabel } from '../../src/artifacts/labels';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, type Listening } from '../support/raw-http';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const JSON_ACCEPT = { accept: 'application/json' };
const HTML_ACCEPT = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

describe.each(DRIVERS)('project builds on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const publicHost = `${originLabel('acme/docs')}.localhost:8080`;
  const privateHost = `${originLabel('acme/web')}.localhost:8080`;

  const upload = async (project: string, build: string, branch: string, path: string, body: string, commit?: string) => {
    const token = await t.token({ project, build, branch, ...(commit ? { commit } : {}) });
    const res = await raw(srv.port, {
      method: 'PUT',
      path: `/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`,
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
    expect(res.status).toBe(201);
  };
  const get = (host: string, path: string, headers: Record<string, string> = {}) => raw(srv.port, { path, headers: { host, ...headers } });
  const home = async (query = '', headers: Record<string, string> = {}) => {
    const res = await get(publicHost, `/${query}`, { ...JSON_ACCEPT, ...headers });
    expect(res.status).toBe(200);
    return res.json() as { project: string; items: Array<Record<string, any>>; nextPageToken: string | null };
  };

  beforeAll(async () => {
    t = await makeTestApp(driver, { PUBLIC_PROJECTS: 'acme/docs' });
    srv = await listen(t.callback);
    // four builds of the public project, a second apart, oldest first
    await upload('acme/docs', '1', 'main', 'coverage/index.html', '<h1>cov 1</h1>', 'abc1234def');
    await upload('acme/docs', '1', 'main', 'coverage/app.css', 'x'.repeat(2000));
    t.clock.now += 1000;
    await upload('acme/docs', '2', 'feature/x', 'report/index.html', '<h1>feature</h1>');
    t.clock.now += 1000;
    await upload('acme/docs', '3', 'main', 'coverage/index.html', '<h1>cov 3</h1>');
    await upload('acme/docs', '3', 'main', 'junit.xml', '<testsuites/>');
    t.clock.now += 1000;
    await upload('acme/docs', '4', 'main', 'junit.xml', '<testsuites/>'); // no coverage in this one
    await upload('acme/web', '100', 'main', 'report/index.html', '<h1>private</h1>');
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  describe('the home page', () => {
    it('lists the builds newest first as JSON, each with branch, commit, time, counts, uploader and its reports', async () => {
      const body = await home();
      expect(body.project).toBe('acme/docs');
      expect(body.items.map((b) => b.build)).toEqual(['4', '3', '2', '1']);
      expect(body.nextPageToken).toBeNull();
      const one = body.items[3];
      expect(one).toEqual({
        build: '1',
        branch: 'main',
        commit: 'abc1234def',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        uploader: { subject: 'acme/docs#1', trusted: true },
        pinned: false,
        files: 2,
        bytes: Buffer.byteLength('<h1>cov 1</h1>') + 2000,
        countsComplete: true,
        url: '/1/',
        reports: [{ path: 'coverage/index.html', url: '/1/coverage/index.html' }],
      });
      expect(body.items[0]).not.toHaveProperty('commit');
      expect(body.items[0].reports).toEqual([]);
      expect(Date.parse(body.items[0].createdAt) - Date.parse(one.createdAt)).toBe(3000);
    });

    it('renders the same list as HTML for a browser, with sizes and links to the reports', async () => {
      const res = await get(publicHost, '/', HTML_ACCEPT);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.text).toContain('<a href="/1/coverage/index.html">coverage/index.html</a>');
      expect(res.text).toContain('<a href="/2/report/index.html">report/index.html</a>');
      expect(res.text).toContain('<a href="/?branch=feature%2Fx">feature/x</a>');
      expect(res.text).toContain('abc1234def');
      expect(res.text).toContain('2.0 KiB');
      expect(res.text.indexOf('href="/4/"')).toBeLessThan(res.text.indexOf('href="/3/"'));
    });

    it('pages with a bounded page size and a token, and filters by branch', async () => {
      const first = await home('?pageSize=2');
      expect(first.items.map((b) => b.build)).toEqual(['4', '3']);
      expect(first.nextPageToken).toEqual(expect.any(String));
      const second = await home(`?pageSize=2&pageToken=${encodeURIComponent(first.nextPageToken!)}`);
      expect(second.items.map((b) => b.build)).toEqual(['2', '1']);
      expect((await home('?branch=main')).items.map((b) => b.build)).toEqual(['4', '3', '1']);
      expect((await home('?branch=feature%2Fx')).items.map((b) => b.build)).toEqual(['2']);
      expect((await home('?branch=nowhere')).items).toEqual([]);
      const html = await get(publicHost, '/?pageSize=2', HTML_ACCEPT);
      expect(html.text).toContain(`rel="next" href="/?pageSize=2&amp;pageToken=${encodeURIComponent(first.nextPageToken!)}"`);
    });

    it('refuses a bad page size, page token or branch with a 400 that says what was wrong', async () => {
      const cases: Array<[string, RegExp]> = [
        ['?pageSize=0', /pageSize must be a whole number from 1 to 100/],
        ['?pageSize=101', /pageSize must be a whole number from 1 to 100/],
        ['?pageToken=bogus', /page token/],
        ['?branch=a%01b', /is not a branch name/],
        ['?branch=a&branch=b', /branch must be given once/],
      ];
      for (const [query, message] of cases) {
        const res = await get(publicHost, `/${query}`, JSON_ACCEPT);
        expect(res.status).toBe(400);
        expect(res.json().error.message).toMatch(message);
      }
      // a token of the list of all builds is not one of a branch's list
      const first = await home('?pageSize=1');
      const res = await get(publicHost, `/?branch=main&pageToken=${encodeURIComponent(first.nextPageToken!)}`, JSON_ACCEPT);
      expect(res.status).toBe(400);
    });

    it('counts a file added to a build after its counts were shown, recounting a build at most every 30 s', async () => {
      const before = (await home('?branch=main')).items.find((b) => b.build === '3')!;
      expect(before.countsComplete).toBe(true);
      await upload('acme/docs', '3', 'main', 'coverage/more.txt', '12345');
      // counted moments ago: the last counts are shown, flagged as not current
      const stale = (await home('?branch=main')).items.find((b) => b.build === '3')!;
      expect(stale).toMatchObject({ files: before.files, bytes: before.bytes, countsComplete: false });
      t.clock.now += 30_000;
      const after = (await home('?branch=main')).items.find((b) => b.build === '3')!;
      expect(after.files).toBe(before.files + 1);
      expect(after.bytes).toBe(before.bytes + 5);
      expect(after.countsComplete).toBe(true);
    });
  });

  describe('the builds API', () => {
    const api = (path: string, token?: string) =>
      raw(srv.port, { path: `/api/v1/projects/acme%2Fdocs/builds${path}`, headers: { host: API, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

    it('lists the same builds with absolute browse URLs, paged and by branch', async () => {
      const token = await t.token({ project: 'acme/docs', build: '9', scope: 'artifacts:read' });
      const res = await api('?branch=main&pageSize=2', token);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('private, no-store');
      const body = res.json();
      expect(body.items.map((b: { build: string }) => b.build)).toEqual(['4', '3']);
      expect(body.items[1].url).toBe(`http://${publicHost}/3/`);
      expect(body.items[1].reports[0]).toEqual({ path: 'coverage/index.html', url: `http://${publicHost}/3/coverage/index.html` });
      const next = await api(`?branch=main&pageSize=2&pageToken=${encodeURIComponent(body.nextPageToken)}`, token);
      expect(next.json().items.map((b: { build: string }) => b.build)).toEqual(['1']);
      expect(next.json().nextPageToken).toBeNull();
    });

    it('needs a job token of that project with artifacts:read', async () => {
      const none = await api('');
      expect(none.status).toBe(401);
      const other = await api('', await t.token({ project: 'acme/web', build: '9' }));
      expect(other.status).toBe(403);
      expect(other.json().error.message).toMatch(/this token is for project "acme\/web"/);
      const writeOnly = await api('', await t.token({ project: 'acme/docs', build: '9', scope: 'artifacts:write' }));
      expect(writeOnly.status).toBe(403);
      expect(writeOnly.json().error.message).toMatch(/artifacts:read/);
    });

    it('refuses a bad page token, page size or branch with a 400', async () => {
      const token = await t.token({ project: 'acme/docs', build: '9', scope: 'artifacts:read' });
      expect((await api('?pageToken=bogus', token)).status).toBe(400);
      expect((await api('?pageSize=x', token)).json().error.message).toMatch(/pageSize/);
      expect((await api(`?branch=${encodeURIComponent('x'.repeat(300))}`, token)).json().error.message).toMatch(/is not a branch name/);
    });
  });

  describe('latest links', () => {
    it("redirect to the branch's newest build that has the path, skipping newer ones that lack it, never cached", async () => {
      const res = await get(publicHost, '/-/latest/main/coverage/index.html');
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/3/coverage/index.html');
      expect(res.headers['cache-control']).toBe('no-store');
      const junit = await get(publicHost, '/-/latest/main/junit.xml');
      expect(junit.headers.location).toBe('/4/junit.xml');
      const dir = await get(publicHost, '/-/latest/main/coverage/');
      expect(dir.headers.location).toBe('/3/coverage/');
    });

    it('follow a new build as soon as it has the path', async () => {
      t.clock.now += 1000;
      await upload('acme/docs', '5', 'main', 'coverage/index.html', '<h1>cov 5</h1>');
      const res = await get(publicHost, '/-/latest/main/coverage/index.html');
      expect(res.headers.location).toBe('/5/coverage/index.html');
      const followed = await get(publicHost, res.headers.location!);
      expect(followed.status).toBe(200);
      expect(followed.text).toBe('<h1>cov 5</h1>');
    });

    it('take a branch with a slash percent-encoded once', async () => {
      const res = await get(publicHost, '/-/latest/feature%2Fx/report/index.html');
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/2/report/index.html');
    });

    it('answer 404 with what was looked for when no build on the branch has the path', async () => {
      const res = await get(publicHost, '/-/latest/feature%2Fx/coverage/index.html', JSON_ACCEPT);
      expect(res.status).toBe(404);
      expect(res.json().error.message).toBe('no build on branch "feature/x" has /coverage/index.html (looked at the branch\'s newest 100 builds)');
      const nobranch = await get(publicHost, '/-/latest/nowhere/junit.xml', JSON_ACCEPT);
      expect(nobranch.status).toBe(404);
      const malformed = await get(publicHost, '/-/latest/main', JSON_ACCEPT);
      expect(malformed.status).toBe(404);
      expect(malformed.json().error.message).toMatch(/latest links are \/-\/latest\/<branch>\/<path>/);
    });
  });

  describe('a private project', () => {
    async function ticketLink(next?: string): Promise<string> {
      const ticket = await t.auth.viewers.mintTicket({ label: privateHost.split('.')[0], project: 'acme/web', viewer: 'alice' }, 60);
      return `/_auth?ticket=${ticket}${next === undefined ? '' : `&next=${encodeURIComponent(next)}`}`;
    }

    it('needs the session for its home page and latest links', async () => {
      expect((await get(privateHost, '/', JSON_ACCEPT)).status).toBe(401);
      expect((await get(privateHost, '/-/latest/main/report/index.html', JSON_ACCEPT)).status).toBe(401);
    });

    it('lands a ticket link without a page on the home page, which then lists the builds', async () => {
      const signIn = await get(privateHost, await ticketLink());
      expect(signIn.status).toBe(302);
      expect(signIn.headers.location).toBe('/');
      const cookie = signIn.headers['set-cookie']![0].split(';')[0];
      const page = await get(privateHost, '/', { ...HTML_ACCEPT, cookie });
      expect(page.status).toBe(200);
      expect(page.headers['cache-control']).toBe('private, no-store');
      expect(page.text).toContain('<a href="/100/report/index.html">report/index.html</a>');
      const latest = await get(privateHost, '/-/latest/main/report/index.html', { cookie });
      expect(latest.status).toBe(302);
      expect(latest.headers.location).toBe('/100/report/index.html');
    });
  });
});

describe('the home page with ISOLATION=build', () => {
  let t: TestApp;
  let srv: Listening;
  beforeAll(async () => {
    t = await makeTestApp('fs', { PUBLIC_PROJECTS: 'acme/docs', ISOLATION: 'build' });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  it("is the build's own index, as before: each build is an origin of its own", async () => {
    const token = await t.token({ project: 'acme/docs', build: '7' });
    const put = await raw(srv.port, {
      method: 'PUT',
      path: '/api/v1/projects/acme%2Fdocs/builds/7/artifacts/index.html',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': 9 },
      body: '<h1>7</h1',
    });
    expect(put.status).toBe(201);
    const res = await raw(srv.port, { path: '/', headers: { host: `${originLabel('acme/docs', '7')}.localhost:8080`, ...HTML_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.text).toBe('<h1>7</h1');
  });
});
