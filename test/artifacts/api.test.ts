import { createHash, randomBytes } from 'node:crypto';
import { toKeyPrefix } from '../../src/storage/keys';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, rawSocket, type Listening } from '../support/raw-http';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const base = (project = 'acme%2Fweb', build = '100') => `/api/v1/projects/${project}/builds/${build}/artifacts`;

describe.each(DRIVERS)('artifacts API on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  let token: string;

  beforeAll(async () => {
    t = await makeTestApp(driver, { ARTIFACT_MAX_BYTES: String(1024 * 1024) });
    srv = await listen(t.callback);
    token = await t.token();
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  const put = (path: string, body: Buffer | string, headers: Record<string, string | number> = {}, tok: string | null = token) =>
    raw(srv.port, {
      method: 'PUT',
      path: `${base()}/${path}`,
      headers: { host: API, 'content-length': Buffer.byteLength(body), ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...headers },
      body,
    });
  const list = (query = '', tok = token, project = 'acme%2Fweb', build = '100') =>
    raw(srv.port, { path: `${base(project, build)}${query}`, headers: { host: API, authorization: `Bearer ${tok}` } });
  /** Every object stored for the project, entries and bytes: proves what a refused request left behind. */
  const storedKeys = async () => {
    const page = await t.harness.storage.list('artifacts', toKeyPrefix('p/'));
    return page.items.map((i) => i.key);
  };

  describe('PUT …/artifacts/{path}', () => {
    it('streams the file in and answers 201 with size, type, sha256 and the browsing URL', async () => {
      const body = '<!doctype html><title>report</title>';
      const res = await put('report/index.html', body);
      expect(res.status).toBe(201);
      const label = res.json().url.split('//')[1].split('.')[0];
      expect(res.json()).toEqual({
        path: 'report/index.html',
        size: body.length,
        contentType: 'text/html; charset=utf-8',
        sha256: sha(body),
        createdAt: expect.any(String),
        url: `http://${label}.localhost:8080/100/report/index.html`,
      });
      expect(label).toMatch(/^acme-web-[a-z2-7]{16}$/);
    });

    it('takes the path from after the route, even for a project and build named "artifacts"', async () => {
      const tok = await t.token({ project: 'artifacts', build: 'artifacts' });
      const res = await raw(srv.port, {
        method: 'PUT',
        path: '/api/v1/projects/artifacts/builds/artifacts/artifacts/artifacts/x.txt',
        headers: { host: API, 'content-length': 1, authorization: `Bearer ${tok}` },
        body: 'x',
      });
      expect(res.status).toBe(201);
      expect(res.json().path).toBe('artifacts/x.txt');
    });

    it('writes one audit line naming who uploaded what', async () => {
      await put('audit/a.txt', 'audited');
      const line = t.log.lines.find((l) => l.audit === 'artifact.upload' && (l.what as { path: string }).path === 'audit/a.txt');
      expect(line).toMatchObject({
        who: { project: 'acme/web', build: '100', branch: 'main', trusted: true },
        what: { path: 'audit/a.txt', size: 7, sha256: sha('audited') },
      });
      expect(t.log.text()).not.toContain(token);
      // one "audit" key per line: JSON with a repeated key reads differently in every log tool
      const rawLine = t.log
        .text()
        .split('\n')
        .find((l) => l.includes('"audit/a.txt"'))!;
      expect(rawLine.match(/"audit":/g)).toHaveLength(1);
    });

    it('answers 200 to the same bytes again (a safe retry) and 409 to other bytes, keeping the first', async () => {
      expect((await put('once.txt', 'first')).status).toBe(201);
      const again = await put('once.txt', 'first');
      expect(again.status).toBe(200);
      expect(again.json().sha256).toBe(sha('first'));
      const other = await put('once.txt', 'second');
      expect(other.status).toBe(409);
      expect(other.json().error).toMatchObject({ code: 'conflict', existing: { path: 'once.txt', sha256: sha('first'), size: 5 } });
      const items = (await list()).json().items.filter((i: { path: string }) => i.path === 'once.txt');
      expect(items).toEqual([expect.objectContaining({ sha256: sha('first') })]);
    });

    it('refuses a file below a path that is a file (409), as a filesystem would, and stores nothing', async () => {
      expect((await put('fd1/report', 'a file')).status).toBe(201);
      const before = await storedKeys();
      const res = await put('fd1/report/x.html', '<p>x</p>');
      expect(res.status).toBe(409);
      expect(res.json().error.message).toBe(
        'fd1/report/x.html cannot be stored in build 100: fd1/report is a file there, and a path cannot be both a file and a directory',
      );
      expect(res.json().error.existing).toEqual({ path: 'fd1/report/x.html', file: 'fd1/report' });
      expect(await storedKeys()).toEqual(before);
    });

    it('refuses a file where a directory is (409), and stores nothing', async () => {
      expect((await put('fd2/report/deep/x.html', '<p>x</p>')).status).toBe(201);
      const before = await storedKeys();
      for (const path of ['fd2/report', 'fd2/report/deep']) {
        const res = await put(path, 'a file');
        expect(res.status).toBe(409);
        expect(res.json().error.message).toMatch(/it is a directory there/);
      }
      expect(await storedKeys()).toEqual(before);
      expect((await put('fd2/report-2', 'a sibling is fine')).status).toBe(201);
    });

    it('never keeps both a file and a directory of one name when they are uploaded at once', async () => {
      for (let round = 0; round < 5; round++) {
        const dir = `fd-race-${round}`;
        const results = await Promise.all([put(`${dir}/r`, 'file'), put(`${dir}/r/x.txt`, 'below'), put(`${dir}/r/y.txt`, 'below')]);
        for (const r of results) expect([201, 409]).toContain(r.status);
        const paths = (await list('?pageSize=1000'))
          .json()
          .items.map((i: { path: string }) => i.path)
          .filter((p: string) => p.startsWith(`${dir}/`));
        const file = paths.includes(`${dir}/r`);
        const below = paths.some((p: string) => p.startsWith(`${dir}/r/`));
        expect(file && below).toBe(false);
        expect(results.filter((r) => r.status === 201).length).toBe(paths.length);
      }
    });

    it('lets exactly one of 6 concurrent different uploads of a path win', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => put('race.txt', `body ${i}`)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(5);
    });

    it('keeps the type the uploader chose, and types by name when none or octet-stream was sent', async () => {
      expect((await put('data.bin', 'x', { 'content-type': 'text/plain; charset=utf-8' })).json().contentType).toBe('text/plain; charset=utf-8');
      expect((await put('pic.png', 'x', { 'content-type': 'application/octet-stream' })).json().contentType).toBe('image/png');
      expect((await put('style.css', 'x')).json().contentType).toBe('text/css; charset=utf-8');
    });

    it('accepts the names real artifacts have: spaces, unicode, +, # (encoded), brackets', async () => {
      const name = 'test results/ünï 日本 [1] (a+b) #3 50%off 100%.xml';
      const res = await put(name.split('/').map(encodeURIComponent).join('/'), '<x/>');
      expect(res.status).toBe(201);
      expect(res.json().path).toBe(name);
    });

    describe('bad paths answer 400 and write nothing', () => {
      it.each([
        ['..', '../escape.txt'],
        ['.. in the middle', 'a/../../escape.txt'],
        ['encoded dots', '%2e%2e/escape.txt'],
        ['encoded dots, mixed case', '%2E%2e/escape.txt'],
        ['double-encoded dots', '%252e%252e/escape.txt'],
        ['triple-encoded dots', '%25252e%25252e/escape.txt'],
        ['double-encoded letter (any escape left after one decoding)', 'a%2541.txt'],
        ['right-to-left override (U+202E)', 'report%E2%80%AEtxt.exe'],
        ['bidi isolate (U+2066)', '%E2%81%A6a.txt'],
        ['left-to-right mark (U+200E)', 'a%E2%80%8E.txt'],
        ['dots and encoded slash', '..%2fescape.txt'],
        ['overlong UTF-8 dot', '%c0%ae%c0%ae/escape.txt'],
        ['invalid percent-encoding', 'bad%zz.txt'],
        ['backslash', 'a%5c..%5cescape.txt'],
        ['raw backslash', 'a\\b.txt'],
        ['NUL', 'a%00b.txt'],
        ['control character', 'a%0ab.txt'],
        ['absolute path (empty first segment)', '/etc/passwd'],
        ['empty segment', 'a//b.txt'],
        ['trailing slash', 'dir/'],
        ['single dot segment', './a.txt'],
        ['over-long path', 'x'.repeat(1100)],
      ])('%s', async (_what, path) => {
        const before = await storedKeys();
        const res = await raw(srv.port, {
          method: 'PUT',
          path: `${base()}/${path}`,
          headers: { host: API, 'content-length': 4, authorization: `Bearer ${token}` },
          body: 'evil',
        });
        expect(res.status).toBe(400);
        expect(res.json().error.code).toBe('invalid_key');
        expect(res.json().error.message).toMatch(/^artifact path /);
        expect(await storedKeys()).toEqual(before);
      });
    });

    describe('bad tokens are refused before a byte is stored', () => {
      const mk = (claims: object, ttl?: number) => () => t.token(claims, ttl);
      it.each([
        ['no token', async () => null, 401, /job token is required/],
        ['a malformed token', async () => 'abc.def', 401, /not a well-formed JWT/],
        [
          'an unsigned token (alg: none)',
          async () => {
            const h = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
            const p = Buffer.from(
              JSON.stringify({
                project: 'acme/web',
                build: '100',
                branch: 'main',
                default_branch: 'main',
                trusted: true,
                scope: 'artifacts:write',
                iss: 'artifact-gateway',
                aud: 'artifact-gateway',
                exp: 4102444800,
              }),
            ).toString('base64url');
            return `${h}.${p}.`;
          },
          401,
          /not accepted|not a well-formed/,
        ],
        [
          'a token signed with another key',
          async () => {
            const { mintJobToken } = await import('../../src/auth/job-token');
            return mintJobToken(
              Buffer.alloc(32, 1),
              { project: 'acme/web', build: '100', branch: 'main', default_branch: 'main', trusted: true, scope: 'artifacts:write' },
              { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 60 },
            );
          },
          401,
          /signature does not verify/,
        ],
        ['an expired token', mk({}, -60), 401, /expired/],
        ['a token for another project', mk({ project: 'acme/api' }), 403, /not "acme\/web"/],
        ['a token for another build', mk({ build: '99' }), 403, /writes build "99" only/],
        ['a token without artifacts:write', mk({ scope: 'artifacts:read cache:write' }), 403, /lacks the artifacts:write scope/],
      ])('%s', async (_what, make, status, message) => {
        const before = await storedKeys();
        const res = await put('tok/x.txt', 'data', {}, await make());
        expect(res.status).toBe(status);
        expect(res.json().error.message).toMatch(message);
        if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(await storedKeys()).toEqual(before);
      });
    });

    describe('bad bodies', () => {
      it('refuses an upload without Content-Length (chunked) with 411', async () => {
        const before = await storedKeys();
        const out = await rawSocket(
          srv.port,
          `PUT ${base()}/chunked.txt HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\n` +
            'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\ndata\r\n0\r\n\r\n',
        );
        expect(out).toMatch(/^HTTP\/1\.1 411/);
        expect(out).toContain('must declare Content-Length');
        expect(await storedKeys()).toEqual(before);
      });

      it('refuses an upload over the size limit with 413 before reading it', async () => {
        const before = await storedKeys();
        const res = await raw(srv.port, {
          method: 'PUT',
          path: `${base()}/huge.bin`,
          headers: { host: API, authorization: `Bearer ${token}`, 'content-length': 2 * 1024 * 1024 },
          body: randomBytes(2 * 1024 * 1024),
        }).catch(() => null); // the server may close before the whole body is sent
        if (res) {
          expect(res.status).toBe(413);
          expect(res.json().error.message).toMatch(/over the 1048576-byte artifact limit/);
        }
        expect(await storedKeys()).toEqual(before);
      });

      it('leaves nothing visible when the client hangs up halfway through the body', async () => {
        const before = await storedKeys();
        const requests = srv.received;
        await rawSocket(
          srv.port,
          Buffer.concat([
            Buffer.from(`PUT ${base()}/cut.bin HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 500000\r\n\r\n`),
            randomBytes(100_000),
          ]),
          { destroyAfterWrite: true },
        );
        // the server streams the body until it notices the hang-up, then cleans up: check once it is done
        await srv.handled(requests + 1);
        expect(await storedKeys()).toEqual(before);
        const items = (await list()).json().items.map((i: { path: string }) => i.path);
        expect(items).not.toContain('cut.bin');
      });

      it('refuses a Content-Length that is not a number', async () => {
        const out = await rawSocket(
          srv.port,
          `PUT ${base()}/x.txt HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 4x\r\nConnection: close\r\n\r\ndata`,
        );
        expect(out).toMatch(/^HTTP\/1\.1 400/);
      });

      it('refuses a Content-Type that is not a media type', async () => {
        const res = await put('typed.txt', 'x', { 'content-type': 'text/html<script>' });
        expect(res.status).toBe(400);
        expect(res.json().error.message).toMatch(/is not a media type/);
      });
    });

    it.each([
      ['a project id with a traversal', '..%2Fetc', /project "..\/etc" is not valid/],
      ['a build id with a slash', 'acme%2Fweb/builds/1%2F2', /build "1\/2" is not valid/],
    ])('answers 400 to %s', async (_what, project, message) => {
      const res = await raw(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/${project}${project.includes('/builds/') ? '' : '/builds/1'}/artifacts/a.txt`,
        headers: { host: API, 'content-length': 1, authorization: `Bearer ${token}` },
        body: 'x',
      });
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(message);
    });
  });

  describe('GET …/artifacts (list)', () => {
    beforeAll(async () => {
      const t2 = await t.token({ build: '200' });
      for (const name of ['a.txt', 'b/c.txt', 'b/d.txt', 'e.txt', 'f.txt']) {
        const res = await raw(srv.port, {
          method: 'PUT',
          path: `${base('acme%2Fweb', '200')}/${name}`,
          headers: { host: API, 'content-length': name.length, authorization: `Bearer ${t2}` },
          body: name,
        });
        expect(res.status).toBe(201);
      }
    });

    it('pages through every artifact of a build with pageSize and nextPageToken', async () => {
      const seen: string[] = [];
      let pageToken: string | null = null;
      let pages = 0;
      do {
        const res = await list(`?pageSize=2${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`, token, 'acme%2Fweb', '200');
        expect(res.status).toBe(200);
        expect(res.headers['cache-control']).toBe('private, no-store');
        const body = res.json();
        seen.push(...body.items.map((i: { path: string }) => i.path));
        for (const item of body.items) {
          expect(item).toEqual({
            path: item.path,
            size: item.path.length,
            contentType: expect.any(String),
            sha256: sha(item.path),
            createdAt: expect.any(String),
            url: expect.stringMatching(/^http:\/\/acme-web-[a-z2-7]{16}\.localhost:8080\/200\//),
          });
        }
        pageToken = body.nextPageToken;
        pages++;
      } while (pageToken);
      expect(seen).toEqual(['a.txt', 'b/c.txt', 'b/d.txt', 'e.txt', 'f.txt']);
      expect(pages).toBe(3);
    });

    it('lets a token of any build of the project read (artifacts:read)', async () => {
      expect((await list('', token, 'acme%2Fweb', '200')).status).toBe(200);
    });

    it.each([
      ['another project', { project: 'acme/api' }, 403],
      ['no artifacts:read', { scope: 'artifacts:write' }, 403],
    ])('forbids a token for %s', async (_what, claims, status) => {
      const res = await list('', await t.token(claims), 'acme%2Fweb', '200');
      expect(res.status).toBe(status);
    });

    it.each(['?pageSize=0', '?pageSize=1001', '?pageSize=ten'])('answers 400 to %s', async (q) => {
      const res = await list(q, token, 'acme%2Fweb', '200');
      expect(res.status).toBe(400);
      expect(res.json().error.message).toMatch(/pageSize must be/);
    });

    it('answers 400 to a forged page token', async () => {
      const res = await list('?pageToken=not-a-token%2F..', token, 'acme%2Fweb', '200');
      expect(res.status).toBe(400);
    });
  });

  describe('GET …/artifacts/{path} (download for scripts)', () => {
    it('redirects every type to a presigned URL with attachment, which returns the bytes', async () => {
      const html = '<!doctype html><script>alert(1)</script>';
      await put('dl/page.html', html);
      const res = await raw(srv.port, { path: `${base()}/dl/page.html`, headers: { host: API, authorization: `Bearer ${token}` } });
      expect(res.status).toBe(302);
      expect(res.headers['cache-control']).toBe('private, no-store');
      const got = await followPresigned(res.headers.location!);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-disposition')).toBe('attachment; filename="page.html"');
      expect(got.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(got.body).toBe(html);
    });

    it('answers 404 for a path that was never uploaded', async () => {
      const res = await raw(srv.port, { path: `${base()}/dl/missing.txt`, headers: { host: API, authorization: `Bearer ${token}` } });
      expect(res.status).toBe(404);
    });

    it('answers 401 without a token', async () => {
      const res = await raw(srv.port, { path: `${base()}/dl/page.html`, headers: { host: API } });
      expect(res.status).toBe(401);
    });
  });

  /** Follows a presigned URL: the real S3 server, or (fs) the gateway's own blob route. */
  async function followPresigned(location: string): Promise<{ status: number; headers: Headers; body: string }> {
    const url = new URL(location);
    if (driver === 's3') {
      const r = await fetch(url);
      return { status: r.status, headers: r.headers, body: await r.text() };
    }
    expect(url.origin).toBe('http://localhost:8080');
    const r = await raw(srv.port, { path: url.pathname + url.search, headers: { host: url.host } });
    const headers = new Headers();
    for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') headers.set(k, v);
    return { status: r.status, headers, body: r.text };
  }
});
