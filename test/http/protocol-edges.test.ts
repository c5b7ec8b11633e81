/**
 * The edges of HTTP that node:http leaves to the application, on the server every instance runs
 * on (http/node-server.ts): duplicate Host headers, CONNECT, `Expect: 100-continue` on uploads
 * that will be refused, and clients that send their headers too slowly.
 */
import { maxHeaderSize } from 'node:http';
import { connect } from 'node:net';
import { originLabel } from '../../src/artifacts/labels';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { listen, raw, rawSocket, type Listening } from '../support/raw-http';

const API = 'localhost:8080';

/** Sends `head`, then waits for the first answer; resolves with it and the socket. */
function sendHead(port: number, head: string): Promise<{ first: string; socket: ReturnType<typeof connect>; all: () => string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    socket.on('error', reject);
    socket.on('data', (c) => {
      const had = out;
      out += c.toString('latin1');
      if (had === '' && out.includes('\r\n\r\n')) resolve({ first: out, socket, all: () => out });
    });
    socket.on('close', () => resolve({ first: out, socket, all: () => out }));
  });
}

describe.each(DRIVERS)('protocol edges on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  let token: string;
  const path = `/api/v1/projects/acme%2Fweb/builds/100/artifacts/edge.txt`;

  beforeAll(async () => {
    t = await makeTestApp(driver, { ARTIFACT_MAX_BYTES: '1048576', PUBLIC_PROJECTS: 'acme/docs' });
    srv = await listen(t.callback);
    token = await t.token();
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  describe('Expect: 100-continue', () => {
    it('refuses an oversize upload with 413 without ever saying 100 Continue, and closes', async () => {
      const { first, socket } = await sendHead(
        srv.port,
        `PUT ${path} HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n`,
      );
      socket.destroy();
      expect(first).toMatch(/^HTTP\/1\.1 413 /);
      expect(first).not.toContain('100 Continue');
      expect(first).toMatch(/\r\nconnection: close\r\n/i);
      expect(first).toContain('over the 1048576-byte artifact limit');
    });

    it('refuses an unauthenticated upload with 401 without saying 100 Continue', async () => {
      const { first, socket } = await sendHead(srv.port, `PUT ${path} HTTP/1.1\r\nHost: ${API}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
      socket.destroy();
      expect(first).toMatch(/^HTTP\/1\.1 401 /);
      expect(first).not.toContain('100 Continue');
    });

    it('says 100 Continue to an upload it accepts, then stores what follows', async () => {
      const body = 'hello, continue';
      const { first, socket, all } = await sendHead(
        srv.port,
        `PUT ${path.replace('edge.txt', 'continued.txt')} HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      expect(first).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      socket.write(body);
      await new Promise((r) => socket.on('close', r));
      expect(all()).toMatch(/HTTP\/1\.1 201 /);
      const back = await raw(srv.port, {
        path: path.replace('edge.txt', 'continued.txt'),
        headers: { host: API, authorization: `Bearer ${token}` },
      });
      expect(back.status).toBe(302);
    });

    it('refuses an oversize cache save with 413 without saying 100 Continue', async () => {
      const { first, socket } = await sendHead(
        srv.port,
        `PUT /api/v1/projects/acme%2Fweb/caches/big-key HTTP/1.1\r\nHost: ${API}\r\nAuthorization: Bearer ${token}\r\n` +
          'Content-Length: 99999999999999\r\nExpect: 100-continue\r\n\r\n',
      );
      socket.destroy();
      expect(first).toMatch(/^HTTP\/1\.1 413 /);
      expect(first).not.toContain('100 Continue');
    });
  });
});

describe('protocol edges', () => {
  let t: TestApp;
  let srv: Listening;

  beforeAll(async () => {
    t = await makeTestApp('fs', { PUBLIC_PROJECTS: 'acme/docs' });
    srv = await listen(t.callback, { headersTimeoutMs: 2000 });
    const token = await t.token({ project: 'acme/docs', build: '7' });
    const res = await raw(srv.port, {
      method: 'PUT',
      path: '/api/v1/projects/acme%2Fdocs/builds/7/artifacts/index.html',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': 11 },
      body: '<h1>docs</h1>'.slice(0, 11),
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  it.each([
    ['an artifact origin, then the API host', [`${originLabel('acme/docs')}.localhost:8080`, API]],
    ['the API host, then an artifact origin', [API, `${originLabel('acme/docs')}.localhost:8080`]],
    ['the same host twice', [API, API]],
  ])('answers 400 to two Host headers (%s) and serves nothing', async (_what, hosts) => {
    const out = await rawSocket(
      srv.port,
      `GET /7/ HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Accept: application/json\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).toContain('more than one Host header');
    expect(out).not.toContain('docs</h1>');
  });

  it('answers CONNECT with a 405 JSON error, like any refused method, and logs it', async () => {
    const out = await rawSocket(srv.port, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 405 /);
    expect(out).toMatch(/\r\nallow: [A-Z, ]+\r\n/i);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'method_not_allowed', status: 405 });
    expect(body.error.message).toMatch(/not a proxy/);
    expect(t.log.lines.some((l) => l.method === 'CONNECT' && l.status === 405)).toBe(true);
  });

  it('answers a request line over the header limit with a 431 JSON error that says what to shorten', async () => {
    const out = await rawSocket(srv.port, `GET /api/v1/projects/acme%2Fdocs/caches?keys=${'k'.repeat(maxHeaderSize)} HTTP/1.1\r\nHost: ${API}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'request_header_fields_too_large', status: 431 });
    expect(body.error.message).toContain(`over ${maxHeaderSize} bytes`);
  });

  it('answers a request node cannot parse with a 400 JSON error', async () => {
    const out = await rawSocket(srv.port, `GET /healthz HTTP/1.1\r\nHost: ${API}\r\nBad Header: x\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'bad_request', status: 400 });
    expect(body.error.message).toMatch(/^malformed HTTP request \(HPE_/);
  });

  it('answers headers that arrive too slowly with a 408 before closing', async () => {
    const out = await rawSocket(srv.port, `GET /healthz HTTP/1.1\r\nHost: ${API}\r\n`, { ms: 6000 });
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
  });

  it('cuts a client that sends its headers too slowly within the headers timeout and one connection sweep', async () => {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect(srv.port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\n'));
      // one header byte every 200 ms: never idle, never done
      const drip = setInterval(() => socket.writable && socket.write('X'), 200);
      const give_up = setTimeout(() => {
        clearInterval(drip);
        socket.destroy();
        reject(new Error('still open after 10 s'));
      }, 10_000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(drip);
        clearTimeout(give_up);
        resolve(Date.now() - started);
      });
    });
    expect(closedAfter).toBeGreaterThanOrEqual(1900);
    // timeout + one 1 s sweep = 3 s; the slack is for a loaded machine (node's default sweep took up to 50 s)
    expect(closedAfter).toBeLessThan(5000);
  });
});
