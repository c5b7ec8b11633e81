/**
 * Browsing on artifact origins, on both drivers: an HTML report with CSS, JS, images and JSON is
 * uploaded through the API and browsed with the codes and headers docs/http-api.md promises.
 */
import { createHash } from 'node:crypto';
import { originLabel } from '../../src/artifacts/labels';
import { EMPTY_MANIFEST, SESSION_COOKIE } from '../../src/auth/viewer-session';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { listen, raw, rawSocket, type Listening, type RawResponse } from '../support/raw-http';

const API = 'localhost:8080';
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6300010000050001' + '0d0a2db40000000049454e44ae426082',
  'hex',
);
const REPORT: Record<string, string | Buffer> = {
  'index.html': '<!doctype html><link rel="stylesheet" href="style.css"><script src="app.js"></script><img src="img/logo.png"><h1>Report</h1>',
  'style.css': 'h1 { color: rgb(1, 2, 3); }',
  'app.js': 'fetch("data/results.json").then((r) => r.json()).then((d) => (document.body.dataset.passed = d.passed));',
  'img/logo.png': PNG,
  'img/icon.svg': '<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="svg ran"</script></svg>',
  'data/results.json': JSON.stringify({ passed: 42, failed: 0 }),
  'notes/readme.txt': 'plain text',
  'big.bin': Buffer.alloc(4096, 7),
};
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const SAME_ORIGIN_FETCH = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };

describe.each(DRIVERS)('artifact origins on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const privateHost = `${originLabel('acme/web')}.localhost:8080`;
  const publicHost = `${originLabel('acme/docs')}.localhost:8080`;

  const upload = async (project: string, build: string, path: string, body: string | Buffer) => {
    const token = await t.token({ project, build });
    const res = await raw(srv.port, {
      method: 'PUT',
      path: `/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`,
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
    expect(res.status).toBe(201);
  };
  const get = (host: string, path: string, headers: Record<string, string> = {}, method = 'GET') =>
    raw(srv.port, { method, path, headers: { host, ...headers } });

  beforeAll(async () => {
    t = await makeTestApp(driver, { PUBLIC_PROJECTS: 'acme/docs', INLINE_MAX_BYTES: '1024' });
    srv = await listen(t.callback);
    for (const [path, body] of Object.entries(REPORT)) {
      await upload('acme/web', '100', `report/${path}`, body);
      await upload('acme/docs', '7', `report/${path}`, body);
    }
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  /** A session cookie for the private project's origin, through the real ticket exchange. */
  async function signIn(host = privateHost, project = 'acme/web'): Promise<string> {
    const label = host.split('.')[0];
    const ticket = await t.auth.viewers.mintTicket({ label, project, viewer: 'alice' }, 60);
    const res = await get(host, `/_auth?ticket=${ticket}&next=${encodeURIComponent('/100/report/')}`);
    expect(res.status).toBe(302);
    return res.headers['set-cookie']![0].split(';')[0];
  }

  function expectIsolationHeaders(res: RawResponse): void {
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const csp = res.headers['content-security-policy']!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toMatch(new RegExp(`img-src 'self' data: blob: ${t.harness.storageOrigin.replace(/[.]/g, '\\.')}`));
  }

  describe('a public project', () => {
    it('serves the report index inline with the isolation headers and public caching', async () => {
      const res = await get(publicHost, '/7/report/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toBe(REPORT['index.html']);
      expect(res.headers.etag).toBe(`"${sha(REPORT['index.html'])}"`);
      expect(res.headers['last-modified']).toBeDefined();
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      expectIsolationHeaders(res);
    });

    it('redirects a directory without its slash, so relative links resolve', async () => {
      const res = await get(publicHost, '/7/report?x=1');
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe('/7/report/?x=1');
      expect((await get(publicHost, '/7')).headers.location).toBe('/7/');
    });

    it('redirects a PNG to a presigned URL that returns the same bytes, inline, never cached', async () => {
      const res = await get(publicHost, '/7/report/img/logo.png', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' });
      expect(res.status).toBe(302);
      expect(res.headers['cache-control']).toBe('private, no-store');
      const location = new URL(res.headers.location!);
      expect(location.origin).toBe(t.harness.storageOrigin);
      const got = await follow(location);
      expect(got.status).toBe(200);
      expect(got.headers['content-type']).toBe('image/png');
      expect(got.headers['content-disposition']).toBe('inline; filename="logo.png"');
      expect(got.body).toEqual(PNG);
    });

    it('answers a redirect whole, with every header set before it; a HEAD gets the same headers and no body', async () => {
      const res = await get(publicHost, '/7/report/img/logo.png');
      expect(res.status).toBe(302);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.headers['content-length']).toBe('5');
      expect(res.text).toBe('Found');
      expect(res.headers['x-request-id']).toMatch(/^req-\d+$/);
      expect(res.headers.vary).toBe('Cookie, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest');
      expectIsolationHeaders(res);
      // on the wire, so a body after a HEAD's headers could not go unseen
      const head = await rawSocket(srv.port, `HEAD /7/report/img/logo.png HTTP/1.1\r\nHost: ${publicHost}\r\nConnection: close\r\n\r\n`);
      expect(head).toMatch(/^HTTP\/1\.1 302 Found\r\n/);
      const header = (name: string) => new RegExp(`\r\n${name}: ([^\r]*)\r\n`, 'i').exec(head)?.[1];
      expect(header('location')).toBe(res.headers.location);
      expect(header('content-length')).toBe('5');
      expect(header('content-security-policy')).toBe(res.headers['content-security-policy']);
      expect(head.endsWith('\r\n\r\n')).toBe(true);
      const moved = await get(publicHost, '/7');
      expect([moved.status, moved.text, moved.headers['content-length']]).toEqual([301, 'Moved Permanently', '17']);
    });

    it('signs one URL per file for a tenth of PRESIGN_TTL and hands it to every request in that time', async () => {
      const signed = async () =>
        (await t.metrics.storageDuration.get()).values
          .filter((v) => v.metricName?.endsWith('_count') && v.labels.operation === 'presignGet')
          .reduce((sum, v) => sum + v.value, 0);
      const png = () => get(publicHost, '/7/report/img/logo.png');
      t.clock.now += 6_001; // past what earlier tests signed (PRESIGN_TTL is 60 s here)
      const before = await signed();
      const first = await png();
      const second = await png();
      expect(second.headers.location).toBe(first.headers.location);
      expect(await signed()).toBe(before + 1);
      t.clock.now += 6_001;
      const third = await png();
      expect(third.status).toBe(302);
      expect(await signed()).toBe(before + 2);
      expect((await follow(new URL(third.headers.location!))).body).toEqual(PNG);
    });

    it('serves an SVG inline on the project origin, never via the bucket', async () => {
      const res = await get(publicHost, '/7/report/img/icon.svg');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('image/svg+xml');
      expect(res.text).toBe(REPORT['img/icon.svg']);
      expectIsolationHeaders(res);
    });

    it("streams the JSON a report's own script fetches from its origin", async () => {
      const res = await get(publicHost, '/7/report/data/results.json', SAME_ORIGIN_FETCH);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.text)).toEqual({ passed: 42, failed: 0 });
      expectIsolationHeaders(res);
      expect(res.headers.vary).toMatch(/Sec-Fetch-Site/);
    });

    it('streams stylesheets and scripts the page loads, so their relative URLs keep working', async () => {
      const css = await get(publicHost, '/7/report/style.css', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'style' });
      expect(css.status).toBe(200);
      expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
      const js = await get(publicHost, '/7/report/app.js', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' });
      expect(js.status).toBe(200);
      expect(js.text).toBe(REPORT['app.js']);
    });

    it('redirects JSON opened directly (or from another site) to a download', async () => {
      for (const headers of [{} as Record<string, string>, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }]) {
        const res = await get(publicHost, '/7/report/data/results.json', headers);
        expect(res.status).toBe(302);
        const got = await follow(new URL(res.headers.location!));
        expect(got.headers['content-disposition']).toBe('attachment; filename="results.json"');
      }
    });

    it('redirects a same-origin fetch of a file over INLINE_MAX_BYTES instead of streaming it', async () => {
      const res = await get(publicHost, '/7/report/big.bin', SAME_ORIGIN_FETCH);
      expect(res.status).toBe(302);
    });

    it('answers HEAD with the headers and no body', async () => {
      const res = await get(publicHost, '/7/report/index.html', {}, 'HEAD');
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength(REPORT['index.html'])));
      expect(res.body.length).toBe(0);
    });

    it('answers a Range request with 206 and the bytes asked for', async () => {
      const res = await get(publicHost, '/7/report/index.html', { range: 'bytes=2-8' });
      expect(res.status).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes 2-8/${Buffer.byteLength(REPORT['index.html'])}`);
      expect(res.text).toBe((REPORT['index.html'] as string).slice(2, 9));
    });

    it('answers an unsatisfiable range with 416', async () => {
      const res = await get(publicHost, '/7/report/index.html', { range: 'bytes=99999-' });
      expect(res.status).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${Buffer.byteLength(REPORT['index.html'])}`);
    });

    it('honours If-Range by the strong ETag or the exact Last-Modified, and serves it all otherwise', async () => {
      const whole = REPORT['index.html'] as string;
      const first = await get(publicHost, '/7/report/index.html');
      const cases: Array<[string, number]> = [
        [first.headers.etag!, 206],
        [first.headers['last-modified']!, 206],
        ['"stale"', 200],
        [`W/${first.headers.etag!}`, 200],
        [new Date(Date.parse(first.headers['last-modified']!) - 1000).toUTCString(), 200],
        ['not a date', 200],
      ];
      for (const [ifRange, status] of cases) {
        const res = await get(publicHost, '/7/report/index.html', { range: 'bytes=2-8', 'if-range': ifRange });
        expect([ifRange, res.status]).toEqual([ifRange, status]);
        expect(res.text).toBe(status === 206 ? whole.slice(2, 9) : whole);
      }
    });

    it('answers If-None-Match with the ETag by 304', async () => {
      const first = await get(publicHost, '/7/report/index.html');
      const res = await get(publicHost, '/7/report/index.html', { 'if-none-match': first.headers.etag! });
      expect(res.status).toBe(304);
      expect(res.body.length).toBe(0);
    });

    it('generates a listing page with relative links for a directory without index.html', async () => {
      const res = await get(publicHost, '/7/report/img/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toContain('<a href="./icon.svg">icon.svg</a>');
      expect(res.text).toContain('<a href="./logo.png">logo.png</a>');
      expect(res.text).toContain('image/png');
      expect(res.text).not.toContain('<script');
      expectIsolationHeaders(res);
      const top = await get(publicHost, '/7/');
      expect(top.text).toContain('<a href="./report/">report/</a>');
    });

    describe('the listing page', () => {
      // build 9: three files a second apart, of sizes that sort otherwise than their names and times
      const files: Array<[string, number]> = [
        ['l/a.txt', 3000],
        ['l/b.txt', 10],
        ['l/c.txt', 20],
      ];
      let times: string[];
      beforeAll(async () => {
        for (const [path, size] of files) {
          await upload('acme/docs', '9', path, 'x'.repeat(size));
          t.clock.now += 1000;
        }
        await upload('acme/docs', '9', 'l/sub/x.txt', 'y'.repeat(100));
        times = files.map((_, i) => new Date(t.clock.now - (files.length - i) * 1000).toISOString());
      });
      const order = (html: string) => [...html.matchAll(/<tr><td><a href="\.\/([^"?]+)">/g)].map((m) => m[1]);

      it('shows human-readable sizes, upload times and a download link for each file', async () => {
        const res = await get(publicHost, '/9/l/');
        expect(res.status).toBe(200);
        expect(res.text).toContain('<td>2.9 KiB</td>');
        expect(res.text).toContain('<td>10 B</td>');
        expect(res.text).toContain(`<time datetime="${times[0]}">${times[0].replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`);
        expect(res.text).toContain('<a href="./a.txt?download=1" download>download</a>');
        // a directory: the total of the files below it, no download link
        expect(res.text).toMatch(
          /<tr><td><a href="\.\/sub\/">sub\/<\/a><\/td><td>100 B<\/td><td>directory<\/td><td><time [^>]+>[^<]+<\/time><\/td><td><\/td><\/tr>/,
        );
        expect(res.text).not.toContain('<script');
        expect(order(res.text)).toEqual(['sub/', 'a.txt', 'b.txt', 'c.txt']);
      });

      it('sorts by name, size or time on the server, directories first, with the column heads turning the order round', async () => {
        const bySize = await get(publicHost, '/9/l/?sort=size&order=desc');
        expect(order(bySize.text)).toEqual(['sub/', 'a.txt', 'c.txt', 'b.txt']);
        expect(bySize.text).toContain('<th aria-sort="descending"><a href="?sort=size&amp;order=asc">Size ▼</a></th>');
        expect(order((await get(publicHost, '/9/l/?sort=size&order=asc')).text)).toEqual(['sub/', 'b.txt', 'c.txt', 'a.txt']);
        expect(order((await get(publicHost, '/9/l/?sort=time')).text)).toEqual(['sub/', 'c.txt', 'b.txt', 'a.txt']);
        expect(order((await get(publicHost, '/9/l/?sort=name&order=desc')).text)).toEqual(['sub/', 'c.txt', 'b.txt', 'a.txt']);
        for (const [query, message] of [
          ['?sort=colour', 'sort must be name, size or time'],
          ['?sort=size&order=up', 'order must be asc or desc'],
        ]) {
          const res = await get(publicHost, `/9/l/${query}`, { accept: 'application/json' });
          expect(res.status).toBe(400);
          expect(res.json().error.message).toBe(message);
        }
      });

      it('answers a download link with the file as an attachment: passive files by a presigned URL, active ones streamed', async () => {
        const res = await get(publicHost, '/9/l/a.txt?download=1');
        expect(res.status).toBe(302);
        expect(res.headers['cache-control']).toBe('private, no-store');
        const got = await follow(new URL(res.headers.location!));
        expect(got.status).toBe(200);
        expect(got.headers['content-disposition']).toBe('attachment; filename="a.txt"');
        expect(got.body.length).toBe(3000);
        // the same file without the query is still inline
        const inline = await follow(new URL((await get(publicHost, '/9/l/a.txt')).headers.location!));
        expect(inline.headers['content-disposition']).toBe('inline; filename="a.txt"');

        const html = await get(publicHost, '/7/report/index.html?download=1');
        expect(html.status).toBe(200);
        expect(html.headers['content-disposition']).toBe('attachment; filename="index.html"');
        expect(html.text).toBe(REPORT['index.html']);
        expectIsolationHeaders(html);

        const bad = await get(publicHost, '/9/l/a.txt?download=yes', { accept: 'application/json' });
        expect(bad.status).toBe(400);
        expect(bad.json().error.message).toMatch(/download must be 1/);
      });
    });

    it.each([
      ['a file that does not exist', '/7/report/missing.html'],
      ['a build that does not exist', '/8/report/index.html'],
      ['an empty directory', '/7/nothing/'],
    ])('answers 404 for %s', async (_what, path) => {
      const res = await get(publicHost, path);
      expect(res.status).toBe(404);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('shows browsers an HTML error page and scripts a JSON one', async () => {
      const html = await get(publicHost, '/7/report/missing.html', { accept: 'text/html' });
      expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(html.text).toContain('no artifact report/missing.html in build 7');
      const json = await get(publicHost, '/7/report/missing.html', { accept: 'application/json' });
      expect(json.json().error.code).toBe('not_found');
    });

    it.each([
      ['..', '/7/report/../../etc/passwd'],
      ['encoded ..', '/7/report/%2e%2e/%2e%2e/x'],
      ['double-encoded ..', '/7/%252e%252e/x'],
      ['overlong UTF-8', '/7/%c0%ae%c0%ae/x'],
      ['NUL', '/7/a%00b'],
      ['backslash', '/7/..%5c..%5cx'],
    ])('answers 400 to a path with %s', async (_what, path) => {
      const res = await get(publicHost, path);
      expect(res.status).toBe(400);
    });

    it.each(['POST', 'PUT', 'DELETE'])('answers 405 to %s', async (method) => {
      const res = await get(publicHost, '/7/report/index.html', {}, method);
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    });
  });

  describe('hosts', () => {
    it('accepts an uppercase Host (host names are case-insensitive)', async () => {
      expect((await get(publicHost.toUpperCase(), '/7/report/')).status).toBe(200);
    });

    it.each([
      ['a trailing dot', () => publicHost.replace(':8080', '.:8080')],
      ['another port', () => publicHost.replace(':8080', ':8081')],
      ['no port where one is expected', () => publicHost.replace(':8080', '')],
      ['a bare IP', () => '127.0.0.1:8080'],
      ['a label nobody published to', () => 'never-published-abc.localhost:8080'],
    ])('answers 421 or 404 (never another project) for %s', async (_what, host) => {
      const res = await get(host(), '/7/report/');
      expect([404, 421]).toContain(res.status);
      expect(res.text).not.toContain('<h1>Report</h1>');
    });

    it('reads storage once for an unknown label however often it is asked, and serves it once published', async () => {
      const host = `${originLabel('acme/late')}.localhost:8080`;
      const reads = async () => {
        const text = await t.metrics.registry.getSingleMetricAsString('agw_storage_operation_duration_seconds');
        const m = new RegExp(`_count\\{driver="${driver}",operation="read",outcome="not_found"\\} (\\d+)`).exec(text);
        return Number(m?.[1] ?? 0);
      };
      const before = await reads();
      for (let i = 0; i < 5; i++) expect((await get(host, '/1/')).status).toBe(404);
      expect((await reads()) - before).toBe(1);
      await upload('acme/late', '1', 'index.html', '<p>late');
      expect((await get(host, '/1/', { cookie: '' })).status).toBe(401); // private, but found
    });

    it('answers 421 to a request without Host', async () => {
      const out = await rawSocket(srv.port, 'GET /7/report/ HTTP/1.0\r\n\r\n');
      expect(out).toMatch(/^HTTP\/1\.1 421/);
    });

    it('answers 400 to an absolute-form request target naming another host', async () => {
      const out = await rawSocket(srv.port, `GET http://${privateHost}/100/report/ HTTP/1.1\r\nHost: ${publicHost}\r\nConnection: close\r\n\r\n`);
      expect(out).toMatch(/^HTTP\/1\.1 400/);
      expect(out).not.toContain('<h1>Report</h1>');
    });
  });

  describe('a private project', () => {
    describe('a web app manifest request without a session (browsers send it without cookies)', () => {
      const manifest = JSON.stringify({ name: 'acme web: build 100 of the secret branch', start_url: '/100/' });
      beforeAll(async () => {
        await upload('acme/web', '100', 'manifest/app.webmanifest', manifest);
        await upload('acme/web', '100', 'manifest/manifest.json', manifest);
      });
      const BROWSER = { 'sec-fetch-dest': 'manifest', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };

      it.each([
        ['a browser sends for a .webmanifest', '/100/manifest/app.webmanifest', BROWSER],
        ['a service worker passes on for a .webmanifest (Sec-Fetch-Dest: empty)', '/100/manifest/app.webmanifest', SAME_ORIGIN_FETCH],
        ['curl sends for a .webmanifest', '/100/manifest/app.webmanifest', {}],
        ['a browser sends for a manifest.json', '/100/manifest/manifest.json', BROWSER],
        ['curl forges with only Sec-Fetch-Dest', '/100/manifest/manifest.json', { 'sec-fetch-dest': 'manifest' }],
        ['comes with a session cookie that does not verify', '/100/manifest/manifest.json', { ...BROWSER, cookie: `${SESSION_COOKIE}=forged` }],
        ['names a file that does not exist', '/100/no/such/file', BROWSER],
        ['names a .webmanifest that does not exist', '/100/no/such.webmanifest', {}],
      ])('answers a request as %s with the fixed empty manifest, never the file', async (_name, path, headers) => {
        for (const method of ['GET', 'HEAD']) {
          const res = await get(privateHost, path, headers, method);
          expect(res.status).toBe(200);
          expect(res.headers['content-type']).toBe('application/manifest+json; charset=utf-8');
          expect(res.headers['cache-control']).toBe('private, no-store');
          expect(res.headers.vary).toMatch(/Sec-Fetch-Dest/);
          expect(res.text).toBe(method === 'GET' ? EMPTY_MANIFEST : '');
          expectIsolationHeaders(res);
        }
      });

      it.each([
        ['no Sec-Fetch headers', {}],
        ["a script's fetch", SAME_ORIGIN_FETCH],
        ['another destination', { 'sec-fetch-dest': 'script', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors' }],
        ['Sec-Fetch-Dest: MANIFEST', { 'sec-fetch-dest': 'MANIFEST' }],
      ])('answers a manifest.json asked for with %s with 401, not the file', async (_name, headers) => {
        const res = await get(privateHost, '/100/manifest/manifest.json', headers);
        expect(res.status).toBe(401);
        expect(res.text).not.toContain('secret branch');
      });

      it.each(['/100/manifest/app.webmanifest', '/100/manifest/manifest.json'])('serves the real %s to a signed-in viewer', async (path) => {
        const cookie = await signIn();
        const res = await get(privateHost, path, { ...BROWSER, cookie });
        expect(res.status).toBe(200);
        expect(res.text).toBe(manifest);
      });
    });

    it('answers 401 with a page that says how to get access', async () => {
      const res = await get(privateHost, '/100/report/', { accept: 'text/html' });
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toMatch(/artifacts are private/);
      expect(res.text).toMatch(/artifact-gateway ticket/);
      expect(res.text).not.toContain('<h1>Report</h1>');
    });

    it('exchanges a ticket for a __Host- session cookie for this origin only, and redirects to next', async () => {
      const label = originLabel('acme/web');
      const ticket = await t.auth.viewers.mintTicket({ label, project: 'acme/web', viewer: 'alice' }, 60);
      const res = await get(privateHost, `/_auth?ticket=${ticket}&next=${encodeURIComponent('/100/report/')}`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/100/report/');
      expect(res.headers['cache-control']).toBe('no-store');
      const cookie = res.headers['set-cookie']![0];
      expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
      expect(cookie).toMatch(/; Max-Age=28800/);
      expect(cookie).toMatch(/; Path=\//);
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).toMatch(/; SameSite=Lax/);
      expect(cookie).not.toMatch(/Domain=/i);
      expect(t.log.lines.some((l) => l.audit === 'viewer.session' && l.viewer === 'alice')).toBe(true);
      expect(t.log.text()).not.toContain(ticket);
    });

    it('signs in through a ticket whose next is a unicode report path, and serves that report', async () => {
      await upload('acme/web', '100', '报告 ü/index.html', '<h1>unicode report</h1>');
      const ticket = await t.auth.viewers.mintTicket({ label: originLabel('acme/web'), project: 'acme/web', viewer: 'a' }, 60);
      const res = await get(privateHost, `/_auth?ticket=${ticket}&next=${encodeURIComponent('/100/报告 ü/')}`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/100/%E6%8A%A5%E5%91%8A%20%C3%BC/');
      const cookie = res.headers['set-cookie']![0].split(';')[0];
      const page = await get(privateHost, res.headers.location!, { cookie });
      expect(page.status).toBe(200);
      expect(page.text).toBe('<h1>unicode report</h1>');
    });

    it.each([
      ['a line separator', '/%E2%80%A8', '/%E2%80%A8'],
      ['an emoji', `/${encodeURIComponent('📊')}/x`, '/%F0%9F%93%8A/x'],
      ['Latin-1 letters', `/${encodeURIComponent('é')}`, '/%C3%A9'],
      ['a literal percent sign and a query', '/50%25off%3Fx%3D%E2%9C%93', '/50%25off?x=%E2%9C%93'],
    ])('answers a next holding %s with a percent-encoded Location', async (_what, nextParam, location) => {
      const ticket = await t.auth.viewers.mintTicket({ label: originLabel('acme/web'), project: 'acme/web', viewer: 'a' }, 60);
      const res = await get(privateHost, `/_auth?ticket=${ticket}&next=${nextParam}`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(location);
      expect(res.headers.location).toMatch(/^[\x21-\x7e]+$/);
    });

    it('serves the report with the session cookie, privately cached', async () => {
      const cookie = await signIn();
      const res = await get(privateHost, '/100/report/', { cookie });
      expect(res.status).toBe(200);
      expect(res.text).toBe(REPORT['index.html']);
      expect(res.headers['cache-control']).toBe('private, no-store');
      expectIsolationHeaders(res);
    });

    it("does not accept one origin's session cookie on another project's origin", async () => {
      await upload('acme/api', '1', 'index.html', '<h1>api</h1>');
      const otherHost = `${originLabel('acme/api')}.localhost:8080`;
      const cookie = await signIn();
      const res = await get(otherHost, '/1/', { cookie });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain('api</h1>');
    });

    it.each([
      ['a forged ticket', async () => 'eyJhbGciOiJIUzI1NiJ9.eyJwcm9qZWN0IjoiYWNtZS93ZWIifQ.c2lnbmF0dXJl', /not valid/],
      [
        'an expired ticket',
        async () => {
          const ticket = await t.auth.viewers.mintTicket({ label: originLabel('acme/web'), project: 'acme/web', viewer: 'a' }, 10);
          t.clock.now += 11_000;
          return ticket;
        },
        /expired/,
      ],
      [
        'a ticket for another origin',
        async () => t.auth.viewers.mintTicket({ label: originLabel('acme/api'), project: 'acme/api', viewer: 'a' }, 60),
        /another origin/,
      ],
      [
        'a session token used as a ticket',
        async () => t.auth.viewers.mintSession({ label: originLabel('acme/web'), project: 'acme/web', viewer: 'a' }, 60),
        /not valid/,
      ],
    ])('refuses %s with 401 and sets no cookie', async (_what, make, message) => {
      const ticket = await make();
      const res = await get(privateHost, `/_auth?ticket=${encodeURIComponent(ticket)}&next=/`, { accept: 'application/json' });
      t.clock.now = Date.now();
      expect(res.status).toBe(401);
      expect(res.json().error.message).toMatch(message);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it.each(['//evil.example', '/\\evil.example', 'https://evil.example/', 'evil', '/\r\nSet-Cookie: x=1'])(
      'refuses next=%j: only paths on this origin',
      async (next) => {
        const ticket = await t.auth.viewers.mintTicket({ label: originLabel('acme/web'), project: 'acme/web', viewer: 'a' }, 60);
        const res = await get(privateHost, `/_auth?ticket=${ticket}&next=${encodeURIComponent(next)}`, { accept: 'application/json' });
        expect(res.status).toBe(400);
        expect(res.json().error.message).toMatch(/next must be a path on this origin/);
        expect(res.headers['set-cookie']).toBeUndefined();
      },
    );

    it('refuses a forged session cookie', async () => {
      const res = await get(privateHost, '/100/report/', { cookie: `${SESSION_COOKIE}=forged.value.here`, accept: 'application/json' });
      expect(res.status).toBe(401);
    });
  });

  /** Follows a presigned URL: the real S3 server, or (fs) the gateway's own blob route. */
  async function follow(url: URL): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    if (driver === 's3') {
      const r = await fetch(url);
      return { status: r.status, headers: Object.fromEntries(r.headers), body: Buffer.from(await r.arrayBuffer()) };
    }
    const r = await raw(srv.port, { path: url.pathname + url.search, headers: { host: url.host } });
    return { status: r.status, headers: r.headers as Record<string, string>, body: r.body };
  }
});

describe('ISOLATION=build', () => {
  let t: TestApp;
  let srv: Listening;
  beforeAll(async () => {
    t = await makeTestApp('fs', { ISOLATION: 'build', PUBLIC_PROJECTS: 'acme/web' });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  it("gives each build its own origin, so a pull request's report never shares the default branch's", async () => {
    for (const build of ['100', '101']) {
      const token = await t.token({ build });
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/acme%2Fweb/builds/${build}/artifacts/index.html`,
        headers: { host: API, authorization: `Bearer ${token}`, 'content-length': 12 },
        body: `<p>build ${build}`,
      });
      expect(res.status).toBe(201);
      expect(res.json().url).toBe(`http://${originLabel('acme/web', build)}.localhost:8080/index.html`);
    }
    const main = await raw(srv.port, { path: '/index.html', headers: { host: `${originLabel('acme/web', '100')}.localhost:8080` } });
    const pr = await raw(srv.port, { path: '/index.html', headers: { host: `${originLabel('acme/web', '101')}.localhost:8080` } });
    expect(main.text).toBe('<p>build 100');
    expect(pr.text).toBe('<p>build 101');
  });
});
