/**
 * Compressed serving on artifact origins, on both drivers: what the gateway streams inline goes
 * out brotli- or gzip-compressed as the request's Accept-Encoding asks, with Vary, an ETag per
 * coding, conditionals and ranges that stay right, and bodies that decode to the stored bytes.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync } from 'node:zlib';
import { originLabel } from '../../src/artifacts/labels';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { listen, raw, type Listening, type RawResponse } from '../support/raw-http';

const API = 'localhost:8080';
const HOST = `${originLabel('acme/docs')}.localhost:8080`;
const CHROMIUM = 'gzip, deflate, br, zstd';
const SCRIPT = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' };
const FETCH = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };

const rows = Array.from({ length: 200 }, (_, i) => `<tr><td>test ${i}</td><td>${i % 3 === 0 ? 'failed' : 'passed'}</td></tr>`).join('\n');
const FILES: Record<string, string | Buffer> = {
  'index.html': `<!doctype html><title>Report</title><script src="app.js"></script><table>${rows}</table>`,
  'app.js': Array.from({ length: 100 }, (_, i) => `export function test${i}(a, b) { return a + b * ${i}; }`).join('\n'),
  'style.css': Array.from({ length: 100 }, (_, i) => `.row-${i} { color: rgb(${i}, 0, 0); }`).join('\n'),
  'data/results.json': JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ title: `test ${i}`, ok: i % 3 !== 0 }))),
  'logo.svg': `<svg xmlns="http://www.w3.org/2000/svg">${Array.from({ length: 60 }, (_, i) => `<rect x="${i}" width="1" height="${i}"/>`).join('')}</svg>`,
  'small.html': '<!doctype html><p>tiny',
  // already compressed: a trace viewer fetches these as they are
  'data/trace.zip': Buffer.alloc(8192, 1),
};
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function decode(res: RawResponse): Buffer {
  switch (res.headers['content-encoding']) {
    case 'br':
      return brotliDecompressSync(res.body);
    case 'gzip':
      return gunzipSync(res.body);
    case undefined:
      return res.body;
    default:
      throw new Error(`unexpected Content-Encoding ${res.headers['content-encoding']}`);
  }
}

describe.each(DRIVERS)('compression on artifact origins on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const upload = async (path: string, body: string | Buffer | Readable, size: number) => {
    const token = await t.token({ project: 'acme/docs', build: '1' });
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: srv.port,
          method: 'PUT',
          path: `/api/v1/projects/acme%2Fdocs/builds/1/artifacts/${path}`,
          headers: { host: API, authorization: `Bearer ${token}`, 'content-length': size },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`upload of ${path}: ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  };
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    raw(srv.port, { method, path: `/1/${path}`, headers: { host: HOST, ...headers } });

  beforeAll(async () => {
    t = await makeTestApp(driver, { PUBLIC_PROJECTS: 'acme/docs' });
    srv = await listen(t.callback);
    for (const [path, body] of Object.entries(FILES)) await upload(path, body, Buffer.byteLength(body));
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  it.each([
    ['as Chromium asks', CHROMIUM, 'br'],
    ['gzip only', 'gzip', 'gzip'],
    ['names in upper case', 'GZIP', 'gzip'],
    ['gzip preferred by q-value', 'br;q=0.5, gzip', 'gzip'],
    ['br and gzip on a tie, br first', 'gzip;q=0.8, br;q=0.8', 'br'],
    ['br refused with q=0', 'br;q=0, gzip, deflate', 'gzip'],
    ['any coding (*)', '*', 'br'],
    ['any but br', '*, br;q=0', 'gzip'],
    ['identity only', 'identity', undefined],
    ['nothing but codings we do not have', 'deflate, zstd', undefined],
    ['every coding refused (identity is still sent)', '*;q=0', undefined],
    ['an empty header', '', undefined],
  ])('negotiates %s (%j) and decodes to the stored bytes', async (_what, acceptEncoding, coding) => {
    const res = await get('index.html', acceptEncoding === '' ? {} : { 'accept-encoding': acceptEncoding });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe(coding);
    expect(res.headers.vary).toMatch(/Accept-Encoding/);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(decode(res).toString()).toBe(FILES['index.html']);
    const tag = sha(FILES['index.html']);
    if (coding) {
      expect(res.headers.etag).toBe(`W/"${tag}-${coding}"`);
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.headers['accept-ranges']).toBeUndefined();
      expect(res.body.length).toBeLessThan(Buffer.byteLength(FILES['index.html']) / 2);
    } else {
      expect(res.headers.etag).toBe(`"${tag}"`);
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength(FILES['index.html'])));
      expect(res.headers['accept-ranges']).toBe('bytes');
    }
  });

  it.each([
    ['a q-value that is not a number', 'br;q=abc'],
    ['bare separators', ', ,;;='],
    ['a coding nobody has heard of', 'x-unknown-coding'],
    ['an overlong header', `${'x,'.repeat(4000)}gzip;q=0`],
  ])('answers a bad Accept-Encoding (%s) with the identity body', async (_what, acceptEncoding) => {
    const res = await get('index.html', { 'accept-encoding': acceptEncoding });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).toMatch(/Accept-Encoding/);
    expect(res.text).toBe(FILES['index.html']);
  });

  it.each([
    ['a script the page loads', 'app.js', SCRIPT, 'text/javascript; charset=utf-8'],
    ['a stylesheet', 'style.css', { ...SCRIPT, 'sec-fetch-dest': 'style' }, 'text/css; charset=utf-8'],
    ["JSON the report's script fetches", 'data/results.json', FETCH, 'application/json; charset=utf-8'],
    ['an SVG', 'logo.svg', {}, 'image/svg+xml'],
  ])('compresses %s', async (_what, path, headers, type) => {
    const res = await get(path, { ...headers, 'accept-encoding': CHROMIUM });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['content-encoding']).toBe('br');
    expect(decode(res).toString()).toBe(FILES[path]);
  });

  it.each([
    ['a body under 1 KiB', 'small.html', {}],
    ['an already compressed type', 'data/trace.zip', FETCH],
  ])('sends %s as it is, without Vary: Accept-Encoding', async (_what, path, headers) => {
    const res = await get(path, { ...headers, 'accept-encoding': CHROMIUM });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).not.toMatch(/Accept-Encoding/);
    expect(res.headers.etag).toBe(`"${sha(FILES[path])}"`);
    expect(res.body).toEqual(Buffer.from(FILES[path]));
  });

  it('answers If-None-Match by the ETag of the coding it would send, with Vary on the 304', async () => {
    const br = await get('index.html', { 'accept-encoding': 'br' });
    const gzip = await get('index.html', { 'accept-encoding': 'gzip' });
    const identity = await get('index.html');
    expect(new Set([br.headers.etag, gzip.headers.etag, identity.headers.etag]).size).toBe(3);
    const tags = { br: br.headers.etag!, gzip: gzip.headers.etag!, identity: identity.headers.etag! };
    // [case, If-None-Match, Accept-Encoding, status, the ETag the answer carries]
    const cases: Array<[string, string, string, number, string]> = [
      ['br', tags.br, 'br', 304, tags.br],
      ['gzip', tags.gzip, 'gzip', 304, tags.gzip],
      ['identity', tags.identity, 'identity', 304, tags.identity],
      ['br tag, gzip asked', tags.br, 'gzip', 200, tags.gzip],
      ['identity tag, br asked', tags.identity, 'br', 200, tags.br],
      ['a list holding the br tag', `"other", ${tags.br}`, CHROMIUM, 304, tags.br],
      ['the br tag without W/', tags.br.slice(2), 'br', 304, tags.br],
    ];
    for (const [what, ifNoneMatch, acceptEncoding, status, etag] of cases) {
      const res = await get('index.html', { 'if-none-match': ifNoneMatch, 'accept-encoding': acceptEncoding });
      expect([what, res.status, res.headers.etag]).toEqual([what, status, etag]);
      expect(res.headers.vary).toMatch(/Accept-Encoding/);
      if (status === 304) expect(res.body.length).toBe(0);
      else expect(decode(res).toString()).toBe(FILES['index.html']);
    }
  });

  it('answers a Range from the identity bytes whatever the Accept-Encoding, with Vary', async () => {
    const whole = FILES['index.html'] as string;
    const res = await get('index.html', { range: 'bytes=100-199', 'accept-encoding': CHROMIUM });
    expect(res.status).toBe(206);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['content-range']).toBe(`bytes 100-199/${Buffer.byteLength(whole)}`);
    expect(res.headers.etag).toBe(`"${sha(whole)}"`);
    expect(res.headers.vary).toMatch(/Accept-Encoding/);
    expect(res.text).toBe(whole.slice(100, 200));
    // If-Range naming the compressed representation: not these bytes, so the whole (identity) body
    const br = await get('index.html', { 'accept-encoding': 'br' });
    const stale = await get('index.html', { range: 'bytes=100-199', 'if-range': br.headers.etag!, 'accept-encoding': CHROMIUM });
    expect(stale.status).toBe(200);
    expect(stale.text).toBe(whole);
  });

  it('answers HEAD with the headers GET sends, coding included', async () => {
    for (const acceptEncoding of [CHROMIUM, 'gzip', 'identity']) {
      const head = await get('index.html', { 'accept-encoding': acceptEncoding }, 'HEAD');
      const body = await get('index.html', { 'accept-encoding': acceptEncoding });
      expect(head.status).toBe(200);
      expect(head.body.length).toBe(0);
      for (const h of ['content-encoding', 'content-length', 'etag', 'vary', 'content-type', 'accept-ranges']) {
        expect([acceptEncoding, h, head.headers[h]]).toEqual([acceptEncoding, h, body.headers[h]]);
      }
    }
  });

  it('compresses the generated listing and the project home, HTML and JSON', async () => {
    for (const [path, headers] of [
      ['/1/data/', { accept: 'text/html' }],
      ['/', { accept: 'text/html' }],
      ['/', { accept: 'application/json' }],
    ] as Array<[string, Record<string, string>]>) {
      const plain = await raw(srv.port, { path, headers: { host: HOST, ...headers } });
      expect(plain.status).toBe(200);
      if (plain.body.length < 1024) continue; // too small to be compressed: shown by the listing below
      const res = await raw(srv.port, { path, headers: { host: HOST, ...headers, 'accept-encoding': 'gzip' } });
      expect([path, res.headers['content-encoding']]).toEqual([path, 'gzip']);
      expect(res.headers.vary).toMatch(/Accept-Encoding/);
      expect(decode(res)).toEqual(plain.body);
    }
    const many = Array.from({ length: 30 }, (_, i) => `page-${i}.html`);
    for (const name of many) await upload(`many/${name}`, '<p>x', 4);
    const listing = await raw(srv.port, { path: '/1/many/', headers: { host: HOST, 'accept-encoding': 'br' } });
    expect(listing.headers['content-encoding']).toBe('br');
    expect(listing.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = decode(listing).toString();
    for (const name of many) expect(html).toContain(`<a href="./${name}">${name}</a>`);
  });

  it('streams a 24 MiB report compressed, decoding to the same sha256', async () => {
    const line = (i: number) => `{"test":"suite ${i % 97} > case ${i}","status":"${i % 5 ? 'passed' : 'failed'}","ms":${(i * 7919) % 10007}},\n`;
    const size = 24 * 1024 * 1024;
    const source = function* () {
      let sent = 0;
      for (let i = 0; sent < size; i++) {
        const chunk = Buffer.from(line(i)).subarray(0, size - sent);
        sent += chunk.length;
        yield chunk;
      }
    };
    const expected = createHash('sha256');
    for (const c of source()) expected.update(c);
    await upload('big.json', Readable.from(source()), size);

    for (const [coding, decoder] of [
      ['br', createBrotliDecompress],
      ['gzip', createGunzip],
    ] as const) {
      const got = createHash('sha256');
      let wire = 0;
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: srv.port, path: '/1/big.json', headers: { host: HOST, 'accept-encoding': coding, ...FETCH } }, (res) => {
          res.on('data', (c: Buffer) => (wire += c.length));
          pipeline(res, decoder(), got).then(() => resolve(res.headers), reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(headers['content-encoding']).toBe(coding);
      expect(headers['transfer-encoding']).toBe('chunked');
      expect(got.digest('hex')).toBe(expected.copy().digest('hex'));
      expect(wire).toBeLessThan(size / 4);
    }
  });
});
