import request from 'supertest';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';

describe.each(DRIVERS)('the gateway on the %s driver', (driver) => {
  let t: TestApp;
  let server: TestApp['callback'];
  let log: TestApp['log'];
  let lifecycle: TestApp['lifecycle'];

  beforeAll(async () => {
    t = await makeTestApp(driver);
  });
  afterAll(async () => t.cleanup());
  beforeEach(async () => {
    // a fresh app (fresh ids and log) per test, on the same storage
    await t.cleanup().catch(() => undefined);
    t = await makeTestApp(driver);
    server = t.callback;
    log = t.log;
    lifecycle = t.lifecycle;
  });

  const api = () => ({ host: 'localhost:8080' });

  describe('GET /healthz', () => {
    it('answers 200 without touching storage', async () => {
      const res = await request(server).get('/healthz').set(api());
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok' });
      expect(res.headers['cache-control']).toBe('no-store');
    });
  });

  describe('GET /readyz', () => {
    it('answers 200 when storage answers', async () => {
      const res = await request(server).get('/readyz').set(api());
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ready', storage: driver });
    });

    it('answers 503 while draining, so load balancers stop sending traffic', async () => {
      lifecycle.draining = true;
      const res = await request(server).get('/readyz').set(api());
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('draining');
      expect(res.headers.connection).toBe('close');
    });
  });

  describe('GET /metrics', () => {
    it('exposes request and storage metrics in Prometheus format', async () => {
      await request(server).get('/readyz').set(api());
      await request(server).get('/healthz').set(api());
      const res = await request(server).get('/metrics').set(api());
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toMatch(/agw_http_requests_total\{route="health",method="GET",status="200"\} \d+/);
      expect(res.text).toMatch(new RegExp(`agw_storage_operation_duration_seconds_count\\{driver="${driver}",operation="ping",outcome="ok"\\} \\d+`));
    });
  });

  describe('routing by Host', () => {
    it.each([
      ['an unknown host', 'evil.example.com'],
      ['a bare IP', '127.0.0.1:8080'],
      ['the API host with a trailing dot', 'localhost.:8080'],
      ['the API host on another port', 'localhost:9999'],
    ])('answers 421 for %s, never a default project', async (_what, host) => {
      const res = await request(server).get('/healthz').set('host', host);
      expect(res.status).toBe(421);
      expect(res.body.error.code).toBe('misdirected_request');
      expect(res.body.error.message).toMatch(/does not serve that host/);
    });

    it('answers 404 with a JSON error for an unknown API path', async () => {
      const res = await request(server).get('/nope').set(api());
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: { code: 'not_found', message: 'no such endpoint', status: 404, requestId: 'req-1' } });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('answers 405 for a method the endpoint does not have', async () => {
      const res = await request(server).post('/healthz').set(api());
      expect(res.status).toBe(405);
      expect(res.headers.allow).toMatch(/GET/);
    });

    it('sets the API host security headers through helmet', async () => {
      const res = await request(server).get('/healthz').set(api());
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['x-powered-by']).toBeUndefined();
    });
  });

  describe('request ids and the access log', () => {
    it('gives every response an X-Request-Id and logs one line per request', async () => {
      const res = await request(server).get('/healthz').set(api());
      expect(res.headers['x-request-id']).toBe('req-1');
      const lines = log.lines.filter((l) => l.msg === 'request');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ reqId: 'req-1', method: 'GET', url: '/healthz', status: 200, route: 'health' });
    });

    it('ignores a client-sent X-Request-Id unless TRUST_PROXY is set', async () => {
      const res = await request(server).get('/healthz').set(api()).set('x-request-id', 'forged');
      expect(res.headers['x-request-id']).toBe('req-1');
    });

    it('redacts signatures, tokens and tickets from logged URLs and never logs authorization', async () => {
      await request(server)
        .get('/nope?X-Amz-Signature=abc123&X-Amz-Credential=AKID%2Fx&token=tok456&ticket=tkt789&page=2')
        .set(api())
        .set('authorization', 'Bearer secret-bearer-value');
      const text = log.text();
      for (const secret of ['abc123', 'AKID', 'tok456', 'tkt789', 'secret-bearer-value']) expect(text).not.toContain(secret);
      expect(text).toContain('page=2');
    });

    it.each([
      ['a JWT under a name that does not say token', '/nope?jwt=JWT&page=2'],
      ['a JWT as authorization', '/nope?authorization=Bearer%20JWT&page=2'],
      ['a JWT under an innocent name', '/nope?q=JWT&page=2'],
      ['a JWT in the path', '/api/v1/JWT/x?page=2'],
      ['an API key', '/nope?api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc&page=2'],
      ['a random token under an innocent name', '/nope?x=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkc&page=2'],
      ['a hex signature under an innocent name', '/nope?s=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08&page=2'],
      ['a password', '/nope?password=hunter2&page=2'],
    ])('redacts %s from the logged URL', async (_what, url) => {
      const jwt = await t.token();
      const secret = url.includes('JWT') ? jwt : /=([^&]*)&page/.exec(url)![1];
      await request(server).get(url.replace('JWT', jwt)).set(api());
      const text = log.text();
      expect(text).toContain('"url":');
      expect(text).not.toContain(secret);
      expect(text).not.toContain(jwt.split('.')[2]); // not even the signature part alone
      expect(text).toContain('page=2');
    });

    it('keeps ordinary query values that only look long', async () => {
      const url = '/nope?path=reports/coverage/lcov-report/2026-12-01/index.html&branch=feature-x-with-a-long-name-123';
      await request(server).get(url).set(api());
      expect(log.text()).toContain(`"url":"${url}"`);
    });
  });

  describe('bad request targets', () => {
    it('answers 400 to an absolute-form request target', async () => {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const http = require('node:http') as typeof import('node:http');
        const srv = http.createServer(server).listen(0, '127.0.0.1', () => {
          const port = (srv.address() as import('node:net').AddressInfo).port;
          const req = http.request({ host: '127.0.0.1', port, path: 'http://localhost:8080/healthz', headers: { host: 'localhost:8080' } }, (r) => {
            let body = '';
            r.on('data', (c) => (body += c));
            r.on('end', () => {
              srv.close();
              resolve({ status: r.statusCode!, body });
            });
          });
          req.on('error', reject);
          req.end();
        });
      });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe('bad_request_target');
    });
  });
});
