/**
 * `GET …/artifacts?archive=zip` on both drivers: the zip is read back with yauzl (a maintained
 * reader) and every file compared by sha256 with what was uploaded; a prefix; bad input; and a
 * client that hangs up mid-stream leaves no storage read open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import * as yauzl from 'yauzl';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, type Listening } from '../support/raw-http';

const raw = matchingSpec(rawHttp);
const API = 'localhost:8080';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const enc = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/** Every file of a zip, by name, read with yauzl (which checks each CRC-32 as it reads). */
export function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, zipfile) => {
      if (err) return reject(err);
      const files = new Map<string, Buffer>();
      zipfile.on('error', reject);
      zipfile.on('end', () => resolve(files));
      zipfile.on('entry', (entry: yauzl.Entry) => {
        zipfile.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            files.set(entry.fileName, Buffer.concat(chunks));
            zipfile.readEntry();
          });
        });
      });
      zipfile.readEntry();
    });
  });
}

describe.each(DRIVERS)('zip of a build on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const files = new Map<string, Buffer>([
    ['report/index.html', Buffer.from('<!doctype html><h1>report</h1>'.repeat(50))],
    ['report/data/results.json', Buffer.from(JSON.stringify({ passed: 120, failed: 0, list: Array.from({ length: 200 }, (_, i) => i) }))],
    ['report/logo.png', randomBytes(3000)],
    ['bin/tool', randomBytes(300_000)],
    ['empty.txt', Buffer.alloc(0)],
    ['ünïcode dir/a+b [1].txt', Buffer.from('unicode')],
  ]);

  beforeAll(async () => {
    t = await makeTestApp(driver, { ARTIFACT_MAX_BYTES: String(64 * 1024 * 1024) });
    srv = await listen(t.callback);
    const token = await t.token({ build: '7' });
    for (const [path, body] of files) {
      const res = await rawHttp(srv.port, {
        method: 'PUT',
        path: `/api/v1/projects/acme%2Fweb/builds/7/artifacts/${enc(path)}`,
        headers: { host: API, authorization: `Bearer ${token}`, 'content-length': body.length },
        body,
      });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  const zipOf = async (query: string, claims = {}) =>
    raw(srv.port, {
      path: `/api/v1/projects/acme%2Fweb/builds/7/artifacts?${query}`,
      headers: { host: API, authorization: `Bearer ${await t.token(claims)}` },
    });

  it('streams every file of the build as a zip, each byte for byte, as an attachment', async () => {
    const res = await zipOf('archive=zip');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe('attachment; filename="acme-web-7.zip"');
    expect(res.headers['cache-control']).toBe('private, no-store');
    const got = await unzip(res.body);
    expect([...got.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [path, body] of files) expect(sha(got.get(path)!)).toBe(sha(body));
    // text is deflated, the rest stored: the zip is smaller than its files only by the HTML and JSON
    const total = [...files.values()].reduce((n, b) => n + b.length, 0);
    expect(res.body.length).toBeLessThan(total);
  });

  it.each([['report/'], ['report']])('takes only the files below prefix=%s', async (prefix) => {
    const res = await zipOf(`archive=zip&prefix=${encodeURIComponent(prefix)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toBe('attachment; filename="acme-web-7-report.zip"');
    const got = await unzip(res.body);
    expect([...got.keys()].sort()).toEqual(['report/data/results.json', 'report/index.html', 'report/logo.png']);
    for (const [path, body] of got) expect(sha(body)).toBe(sha(files.get(path)!));
  });

  it('answers 404 for a build or a prefix that holds nothing', async () => {
    expect(
      (
        await raw(srv.port, {
          path: '/api/v1/projects/acme%2Fweb/builds/8/artifacts?archive=zip',
          headers: { host: API, authorization: `Bearer ${await t.token()}` },
        })
      ).status,
    ).toBe(404);
    expect((await zipOf('archive=zip&prefix=nothing/')).status).toBe(404);
    // a file is not a directory
    expect((await zipOf('archive=zip&prefix=empty.txt')).status).toBe(404);
  });

  it.each([
    ['another archive format', 'archive=tar'],
    ['a traversal', 'archive=zip&prefix=..%2Fother%2F'],
    ['a traversal inside', 'archive=zip&prefix=report%2F..%2F..%2F'],
    ['an escape left after decoding', 'archive=zip&prefix=%252e%252e%2F'],
    ['an absolute prefix', 'archive=zip&prefix=%2Fetc%2F'],
    ['a backslash', 'archive=zip&prefix=a%5Cb'],
    ['two prefixes', 'archive=zip&prefix=a&prefix=b'],
  ])('refuses %s with 400', async (_, query) => {
    const res = await zipOf(query);
    expect(res.status).toBe(400);
    expect(res.json().error.message).toEqual(expect.any(String));
  });

  it('needs artifacts:read for this project', async () => {
    expect((await zipOf('archive=zip', { scope: 'artifacts:write' })).status).toBe(403);
    expect((await zipOf('archive=zip', { project: 'acme/other' })).status).toBe(403);
  });

  it('closes every storage read when the client hangs up mid-stream', async () => {
    const token = await t.token({ build: '9' });
    // 32 MiB: far more than socket buffers hold, so the gateway is mid-file when the client goes
    const big = randomBytes(32 * 1024 * 1024);
    const put = await rawHttp(srv.port, {
      method: 'PUT',
      path: '/api/v1/projects/acme%2Fweb/builds/9/artifacts/big.bin',
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': big.length },
      body: big,
    });
    expect(put.status).toBe(201);
    const openReads = async () => (await t.metrics.storageReadsOpen.get()).values.reduce((n, v) => n + v.value, 0);
    const before = await openReads();
    let during = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { port: srv.port, path: '/api/v1/projects/acme%2Fweb/builds/9/artifacts?archive=zip', headers: { host: API, authorization: `Bearer ${token}` } },
        (res) => {
          expect(res.statusCode).toBe(200);
          // a MiB in: the zip is inside big.bin, which is being read
          let received = 0;
          const onData = (chunk: Buffer) => {
            received += chunk.length;
            if (received < 1024 * 1024) return;
            res.off('data', onData);
            res.pause();
            void openReads().then((n) => {
              during = n;
              res.destroy();
              resolve();
            });
          };
          res.on('data', onData);
        },
      );
      req.on('error', (err) => (err.message.includes('aborted') || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      req.end();
    });
    // the server learns of the hang-up a moment later: wait for it (bounded), then check
    expect(during).toBe(before + 1);
    for (let i = 0; i < 500 && (await openReads()) > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await openReads()).toBe(before);
    // and the gateway still answers whole zips afterwards
    expect((await zipOf('archive=zip&prefix=report%2F')).status).toBe(200);
  });
});
