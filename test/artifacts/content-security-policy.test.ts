/**
 * The CSP of artifact origins: the `reports` policy by default (real reports load scripts,
 * styles, fonts and images from https CDNs), `strict` for every project with CONTENT_POLICY=strict
 * or for the projects STRICT_CONTENT_PROJECTS names; in both, what isolation rests on stays.
 * Chromium enforcing it on real reports is test/e2e/real-reports.test.ts.
 */
import { originLabel } from '../../src/artifacts/labels';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { listen, raw, type Listening } from '../support/raw-http';

const API = 'localhost:8080';
const REPORT = '<h1>r</h1>';
const host = (project: string) => `${originLabel(project)}.localhost:8080`;

/** The CSP as directive -> sources. */
function directives(csp: string | undefined): Record<string, string[]> {
  expect(csp).toBeDefined();
  return Object.fromEntries(
    csp!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0] !== '')
      .map(([name, ...sources]) => [name, sources]),
  );
}

const REPORTS_OFF_ORIGIN = ['script-src', 'style-src', 'font-src', 'img-src', 'media-src'];

describe.each(DRIVERS)('the content policy of artifact origins on the %s driver', (driver) => {
  const apps: Array<{ t: TestApp; srv: Listening }> = [];
  async function start(env: Record<string, string>): Promise<{ t: TestApp; srv: Listening }> {
    const t = await makeTestApp(driver, { PUBLIC_PROJECTS: 'acme/web,acme/secure,other/secure', ...env });
    const srv = await listen(t.callback);
    apps.push({ t, srv });
    for (const project of ['acme/web', 'acme/secure', 'other/secure']) {
      const token = await t.token({ project, build: '1' });
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/${encodeURIComponent(project)}/builds/1/artifacts/index.html`,
        headers: { host: API, authorization: `Bearer ${token}`, 'content-length': REPORT.length },
        body: REPORT,
      });
      expect(res.status).toBe(201);
    }
    return { t, srv };
  }
  const csp = async (app: { srv: Listening }, project: string, path = '/1/index.html') =>
    directives((await raw(app.srv.port, { path, headers: { host: host(project) } })).headers['content-security-policy'] as string);

  afterAll(async () => {
    for (const { t, srv } of apps) {
      await srv.close();
      await t.cleanup();
    }
  });

  it('lets reports load scripts, styles, fonts, images and media from any https origin by default, and connect only to their own', async () => {
    const app = await start({});
    const d = await csp(app, 'acme/web');
    for (const name of REPORTS_OFF_ORIGIN) expect(d[name]).toContain('https:');
    expect(d['script-src']).toEqual(["'self'", "'unsafe-inline'", "'unsafe-eval'", 'blob:', 'https:']);
    expect(d['style-src']).toEqual(["'self'", "'unsafe-inline'", 'https:']);
    expect(d['font-src']).toEqual(["'self'", 'data:', 'https:']);
    expect(d['img-src']).toEqual(expect.arrayContaining(["'self'", 'data:', 'blob:', app.t.harness.storageOrigin]));
    expect(d['connect-src']).toEqual(["'self'"]);
    expect(d['default-src']).toEqual(["'self'"]);
  });

  it.each([
    ['CONTENT_POLICY=strict', ['acme/web', 'acme/secure', 'other/secure'], { CONTENT_POLICY: 'strict' }],
    ['STRICT_CONTENT_PROJECTS=*/secure', ['acme/secure', 'other/secure'], { STRICT_CONTENT_PROJECTS: '*/secure' }],
    ['STRICT_CONTENT_PROJECTS=acme/secure', ['acme/secure'], { STRICT_CONTENT_PROJECTS: 'acme/secure' }],
  ])('with %s, gives the strict policy (nothing from other origins but the storage one) to exactly %j', async (_name, strict, env) => {
    const app = await start(env);
    for (const project of ['acme/web', 'acme/secure', 'other/secure']) {
      const d = await csp(app, project);
      const isStrict = strict.includes(project);
      for (const name of REPORTS_OFF_ORIGIN) expect([project, name, d[name].includes('https:')]).toEqual([project, name, !isStrict]);
      if (isStrict) {
        expect(d['script-src']).toEqual(["'self'", "'unsafe-inline'", "'unsafe-eval'", 'blob:']);
        expect(d['style-src']).toEqual(["'self'", "'unsafe-inline'"]);
        expect(d['font-src']).toEqual(["'self'", 'data:']);
        expect(d['img-src']).toEqual(["'self'", 'data:', 'blob:', app.t.harness.storageOrigin]);
      }
    }
  });

  it.each([
    ['reports', {}],
    ['strict', { CONTENT_POLICY: 'strict' }],
  ])('keeps object-src, base-uri, form-action, frame-ancestors and frame-src tight in the %s policy', async (_name, env) => {
    const app = await start({ ...env, FRAME_ANCESTORS: "'self' https://ci.example.com" });
    for (const path of ['/1/index.html', '/1/missing.html', '/']) {
      const d = await csp(app, 'acme/web', path);
      expect(d['object-src']).toEqual(["'none'"]);
      expect(d['base-uri']).toEqual(["'self'"]);
      expect(d['form-action']).toEqual(["'self'"]);
      expect(d['frame-ancestors']).toEqual(["'self'", 'https://ci.example.com']);
      // Playwright's trace viewer: its snapshot frames ('self') and its blank data: page
      expect(d['frame-src']).toEqual(["'self'", 'data:']);
      expect(d['connect-src']).toEqual(["'self'"]);
    }
  });

  it('sends the strict policy on a listed project however its answer ends: a 404, a redirect, a listing', async () => {
    const app = await start({ STRICT_CONTENT_PROJECTS: 'acme/secure' });
    for (const path of ['/1/missing.html', '/1', '/1/?sort=name', '/-/latest/main/x']) {
      expect([path, (await csp(app, 'acme/secure', path))['style-src']]).toEqual([path, ["'self'", "'unsafe-inline'"]]);
      expect([path, (await csp(app, 'acme/web', path))['style-src']]).toEqual([path, ["'self'", "'unsafe-inline'", 'https:']]);
    }
  });
});
