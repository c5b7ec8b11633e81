/**
 * What the fs driver promises beyond the storage contract: its on-disk names, its temp files, its
 * signed blob URLs and the route that serves them.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AlreadyExistsError, BadRequestError, InvalidKeyError, StorageError } from '../../src/errors';
import { toKeyPrefix, toStorageKey, type StorageKey } from '../../src/storage/keys';
import type { ReadResult } from '../../src/storage/storage';
import { startFsHarness, type FsHarness } from './fs-harness';

const key = (s: string) => toStorageKey(s);
const body = (data: string | Buffer) => Readable.from([Buffer.from(data)]);
const text = async (r: ReadResult) => (await buffer(r.body)).toString();

/** Every name below `dir`, recursively, relative to it. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** A raw request, for what fetch will not send (a PUT without Content-Length). */
function rawRequest(url: string, method: string, headers: Record<string, string>, payload?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      buffer(res).then((b) => resolve({ status: res.statusCode!, body: b.toString() }), reject);
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

let h: FsHarness;
let base: string;
beforeAll(async () => {
  h = await startFsHarness();
});
afterAll(async () => {
  await h?.cleanup();
});
beforeEach(() => {
  base = `t-${randomBytes(4).toString('hex')}`;
  h.clock.offsetMs = 0;
});

describe('the fs driver on disk', () => {
  it('stores "a/b" as the file a\\/b and "a" as the file a, side by side', async () => {
    await h.storage.write('artifacts', key(`${base}/a`), body('file'));
    await h.storage.write('artifacts', key(`${base}/a/b`), body('nested'));
    expect(await tree(join(h.root, 'artifacts', `${base}\\`))).toEqual(['a', 'a\\', join('a\\', 'b')]);
  });

  it.each(['a%', 'a%25', '%2F', '%', 'tmp-0123456789abcdef', '.tmp-x', '~tmp', 'AGW1', 'ends-with-slash-lookalike∕', 'x'.repeat(254)])(
    'round-trips %j as an object name and as a directory name',
    async (name) => {
      const leaf = key(`${base}/${name}`);
      const below = key(`${base}/${name}/child`);
      await h.storage.write('artifacts', leaf, body('leaf'));
      await h.storage.write('artifacts', below, body('below'));
      expect(await text(await h.storage.read('artifacts', leaf))).toBe('leaf');
      expect(await text(await h.storage.read('artifacts', below))).toBe('below');
      const listed = await h.storage.list('artifacts', toKeyPrefix(`${base}/`));
      expect(listed.items.map((i) => i.key)).toEqual([leaf, below]);
    },
  );

  it('refuses a backslash, the one character it reserves, before anything reaches the disk', async () => {
    expect(() => toStorageKey(`${base}/a\\`)).toThrow(InvalidKeyError);
    const forged = `${base}/a\\/b` as StorageKey;
    await expect(h.storage.write('artifacts', forged, body('x'))).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(h.storage.stat('artifacts', forged)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(stat(join(h.root, 'artifacts', `${base}\\`))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a directory segment over 254 bytes as an invalid key, and stores a 255-byte leaf', async () => {
    const long = 'd'.repeat(255);
    await expect(h.storage.write('artifacts', key(`${base}/${long}/x`), body('x'))).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await h.storage.stat('artifacts', key(`${base}/${long}/x`))).toBeNull();
    await h.storage.write('artifacts', key(`${base}/${long}`), body('leaf'));
    expect((await h.storage.stat('artifacts', key(`${base}/${long}`)))!.size).toBe(4);
  });

  it('removes its temp file when a write fails, so neither the disk nor list shows one', async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent++ < 3) this.push(randomBytes(64 * 1024));
        else this.destroy(new Error('client went away'));
      },
    });
    await expect(h.storage.write('artifacts', key(`${base}/dir/cut.bin`), failing)).rejects.toThrow('client went away');
    expect((await h.storage.list('artifacts', toKeyPrefix(`${base}/`))).items).toEqual([]);
    expect((await tree(join(h.root, 'artifacts'))).filter((n) => n.includes('\\tmp-'))).toEqual([]);
  });

  it('never lists a temp file left behind by a crashed writer', async () => {
    const k = key(`${base}/dir/real.txt`);
    await h.storage.write('artifacts', k, body('real'));
    const dir = join(h.root, 'artifacts', `${base}\\`, 'dir\\');
    await copyFile(join(dir, 'real.txt'), join(dir, '\\tmp-00112233deadbeef'));
    const listed = await h.storage.list('artifacts', toKeyPrefix(`${base}/`));
    expect(listed.items.map((i) => i.key)).toEqual([k]);
  });

  it('removes temp files a crashed writer left, at any depth and in both buckets, but none touched after the cutoff', async () => {
    const k = key(`${base}/deep/er/real.txt`);
    await h.storage.write('artifacts', k, body('real'));
    await h.storage.write('cache', key(`${base}/c.bin`), body('cached'));
    const deep = join(h.root, 'artifacts', `${base}\\`, 'deep\\', 'er\\');
    const top = join(h.root, 'cache', `${base}\\`);
    await writeFile(join(deep, '\\tmp-00112233deadbeef'), 'half a write');
    await writeFile(join(top, '\\tmp-aabbccddeeff0011'), 'another');
    expect(await h.storage.removeAbandonedWrites(new Date(Date.now() - 60_000))).toEqual({ count: 0, bytes: 0 });
    // earlier tests of this file left temp files of their own in the same root
    const temps = (await tree(h.root)).filter((n) => n.includes('\\tmp-'));
    expect(temps.length).toBeGreaterThanOrEqual(2);
    const removed = await h.storage.removeAbandonedWrites(new Date(Date.now() + 60_000));
    expect(removed.count).toBe(temps.length);
    expect(removed.bytes).toBeGreaterThanOrEqual('half a write'.length + 'another'.length);
    expect((await tree(h.root)).filter((n) => n.includes('\\tmp-'))).toEqual([]);
    expect(await text(await h.storage.read('artifacts', k))).toBe('real');
    expect(await text(await h.storage.read('cache', key(`${base}/c.bin`)))).toBe('cached');
  });

  it('refuses a create-only write of an existing key without reading or destroying the body', async () => {
    const k = key(`${base}/once`);
    await h.storage.write('cache', k, body('first'), { ifNoneMatch: true });
    const read = jest.fn();
    const untouched = new Readable({ read });
    await expect(h.storage.write('cache', k, untouched, { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
    // the body belongs to the caller, who may still answer on the connection it comes from
    expect(read).not.toHaveBeenCalled();
    expect(untouched.destroyed).toBe(false);
  });

  it('stops reading a body it fails on, but leaves it to the caller to end', async () => {
    const k = key(`${base}/long`);
    const src = new Readable({ read() {} });
    src.push('too long for its declared length');
    const write = h.storage.write('artifacts', k, src, { contentLength: 3 });
    await expect(write).rejects.toBeInstanceOf(BadRequestError);
    expect(src.destroyed).toBe(false);
    expect(src.listenerCount('readable')).toBe(0);
    src.destroy();
  });

  it('prunes the directories a delete leaves empty, and only those', async () => {
    await h.storage.write('artifacts', key(`${base}/a/b/c`), body('1'));
    await h.storage.write('artifacts', key(`${base}/a/d`), body('2'));
    await h.storage.delete('artifacts', key(`${base}/a/b/c`));
    expect(await tree(join(h.root, 'artifacts', `${base}\\`))).toEqual(['a\\', join('a\\', 'd')]);
    await h.storage.delete('artifacts', key(`${base}/a/d`));
    await expect(stat(join(h.root, 'artifacts', `${base}\\`))).rejects.toMatchObject({ code: 'ENOENT' });
    await h.storage.write('artifacts', key(`${base}/a/b/c`), body('again'));
    expect(await text(await h.storage.read('artifacts', key(`${base}/a/b/c`)))).toBe('again');
  });

  it('answers a file that is not one of its objects with StorageError, not a crash', async () => {
    await mkdir(join(h.root, 'artifacts', `${base}\\`), { recursive: true });
    await writeFile(join(h.root, 'artifacts', `${base}\\`, 'junk'), 'not an object');
    await expect(h.storage.stat('artifacts', key(`${base}/junk`))).rejects.toBeInstanceOf(StorageError);
    await expect(h.storage.read('artifacts', key(`${base}/junk`))).rejects.toBeInstanceOf(StorageError);
  });

  it.each([
    ['a page token it did not give out', { pageToken: 'not base64url!' }],
    ['a limit of 0', { limit: 0 }],
  ])('refuses to list with %s', async (_what, options) => {
    await expect(h.storage.list('artifacts', toKeyPrefix(`${base}/`), options)).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe('signed blob URLs', () => {
  let k: StorageKey;
  let url: URL;
  beforeEach(async () => {
    k = key(`${base}/report.html`);
    await h.storage.write('artifacts', k, body('<h1>hi</h1>'), { contentType: 'text/html' });
    url = new URL(
      await h.storage.presignGet('artifacts', k, {
        expiresIn: 60,
        responseContentType: 'text/plain',
        responseContentDisposition: 'attachment',
      }),
    );
  });

  it('opens the object when nothing was changed', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('<h1>hi</h1>');
  });

  const flip = (hex: string) => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
  it.each<[string, (u: URL) => void]>([
    ['the signature', (u) => u.searchParams.set('X-Signature', flip(u.searchParams.get('X-Signature')!))],
    ['the expiry', (u) => u.searchParams.set('X-Expires', `${u.searchParams.get('X-Expires')}0`)],
    ['the method', (u) => u.searchParams.set('X-Method', 'PUT')],
    ['the content type override', (u) => u.searchParams.set('response-content-type', 'text/html')],
    ['the disposition override', (u) => u.searchParams.set('response-content-disposition', 'inline')],
    ['a removed override', (u) => u.searchParams.delete('response-content-disposition')],
    ['an added field', (u) => u.searchParams.set('X-Content-Type', 'text/html')],
    ['a repeated field', (u) => u.searchParams.append('response-content-type', 'text/plain')],
    ['a missing signature', (u) => u.searchParams.delete('X-Signature')],
    ['the bucket', (u) => (u.pathname = u.pathname.replace('/artifacts/', '/cache/'))],
    ['the key', (u) => (u.pathname = u.pathname.replace('report.html', 'report.htm'))],
  ])('answers 403 when %s is tampered with', async (_what, tamper) => {
    tamper(url);
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
  });

  it('answers 403 once the injected clock passes the expiry, and 200 just before', async () => {
    const expires = Number(url.searchParams.get('X-Expires')) * 1000;
    h.clock.offsetMs = expires - Date.now() - 1000;
    expect((await fetch(url)).status).toBe(200);
    h.clock.offsetMs = expires - Date.now();
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('the URL has expired');
  });

  it('does not let a GET URL PUT, nor a PUT URL GET', async () => {
    expect((await fetch(url, { method: 'PUT', body: 'overwritten' })).status).toBe(403);
    const put = await h.storage.presignPut('artifacts', k, { expiresIn: 60 });
    expect((await fetch(put)).status).toBe(403);
    expect(await text(await h.storage.read('artifacts', k))).toBe('<h1>hi</h1>');
  });

  it('takes only the Content-Type a PUT URL was signed with, and stores it', async () => {
    const put = await h.storage.presignPut('cache', k, { expiresIn: 60, contentType: 'application/json' });
    const wrong = await fetch(put, { method: 'PUT', body: '{}', headers: { 'Content-Type': 'text/html' } });
    expect(wrong.status).toBe(403);
    const right = await fetch(put, {
      method: 'PUT',
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(right.status).toBe(200);
    expect(right.headers.get('etag')).toBe((await h.storage.stat('cache', k))!.etag);
    expect((await h.storage.stat('cache', k))!.contentType).toBe('application/json');
  });

  it('refuses to sign for longer than S3 would (7 days)', async () => {
    const tooLong = h.storage.presignGet('artifacts', k, { expiresIn: 7 * 24 * 3600 + 1 });
    await expect(tooLong).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe('the blob route', () => {
  const SECURITY = {
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, no-store',
    'referrer-policy': 'no-referrer',
  };
  const headersOf = (res: Response) => Object.fromEntries(res.headers.entries());
  let k: StorageKey;
  let get: string;
  beforeEach(async () => {
    k = key(`${base}/digits.txt`);
    await h.storage.write('artifacts', k, body('0123456789'));
    get = await h.storage.presignGet('artifacts', k, { expiresIn: 60 });
  });

  const outside = ['/other', '/_blobs/artifacts/x', '/', '/_bl'];
  it.each(outside)('leaves %s to the next middleware', async (path) => {
    const res = await fetch(h.origin + path);
    expect(await res.text()).toBe('next');
  });

  it('serves the stored type, Content-Length, ETag, Last-Modified and the security headers', async () => {
    const res = await fetch(get);
    const info = (await h.storage.stat('artifacts', k))!;
    expect(res.status).toBe(200);
    expect(headersOf(res)).toMatchObject({
      ...SECURITY,
      'content-type': 'application/octet-stream',
      'content-length': '10',
      etag: info.etag,
      'last-modified': info.lastModified.toUTCString(),
      'accept-ranges': 'bytes',
    });
    expect(await res.text()).toBe('0123456789');
  });

  it.each([
    ['a 403', () => get.replace('X-Signature=', 'X-Signature=0')],
    ['a 404', async () => h.storage.presignGet('artifacts', key(`${base}/missing`), { expiresIn: 60 })],
    ['a 405', async () => get],
  ])('sends the security headers on %s too', async (what, makeUrl) => {
    const res = await fetch(await makeUrl(), { method: what === 'a 405' ? 'DELETE' : 'GET' });
    expect(res.status).toBe(Number(what.slice(2)));
    expect(headersOf(res)).toMatchObject(SECURITY);
    await res.arrayBuffer();
  });

  it('answers HEAD with the headers of a GET and no body', async () => {
    const res = await fetch(get, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('10');
    expect(await res.text()).toBe('');
  });

  it('answers 304 when If-None-Match holds the current ETag, 200 otherwise', async () => {
    const { etag } = (await h.storage.stat('artifacts', k))!;
    const same = await fetch(get, { headers: { 'If-None-Match': `"other", ${etag}` } });
    expect(same.status).toBe(304);
    expect(same.headers.get('etag')).toBe(etag);
    expect((await fetch(get, { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
  });

  it.each([
    ['bytes=2-4', 206, '234', 'bytes 2-4/10'],
    ['bytes=-3', 206, '789', 'bytes 7-9/10'],
    ['bytes=8-100', 206, '89', 'bytes 8-9/10'],
    ['bytes=0-1,5-6', 200, '0123456789', null],
    ['lines=1-2', 200, '0123456789', null],
    ['bytes=10-', 416, undefined, 'bytes */10'],
  ])('answers Range: %s with %i', async (range, status, content, contentRange) => {
    const res = await fetch(get, { headers: { Range: range } });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-range')).toBe(contentRange);
    const got = await res.text();
    if (content !== undefined) expect(got).toBe(content);
  });

  it('ignores Range when If-Range names another version', async () => {
    const res = await fetch(get, { headers: { Range: 'bytes=2-4', 'If-Range': '"stale"' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('0123456789');
  });

  it('answers 411 to a PUT without Content-Length, and 413 to one over the limit', async () => {
    const put = await h.storage.presignPut('cache', k, { expiresIn: 60 });
    const chunked = await rawRequest(put, 'PUT', { 'Transfer-Encoding': 'chunked' }, 'data');
    expect(chunked.status).toBe(411);
    expect(JSON.parse(chunked.body).error.code).toBe('length_required');
    const huge = await rawRequest(put, 'PUT', { 'Content-Length': String(6 * 1024 ** 3) });
    expect(huge.status).toBe(413);
    expect(await h.storage.stat('cache', k)).toBeNull();
  });

  it('answers 412 to a PUT with If-None-Match: * on an existing key', async () => {
    const put = await h.storage.presignPut('artifacts', k, { expiresIn: 60 });
    const res = await fetch(put, { method: 'PUT', body: 'new', headers: { 'If-None-Match': '*' } });
    expect(res.status).toBe(412);
    expect(await text(await h.storage.read('artifacts', k))).toBe('0123456789');
  });

  it('destroys the storage read when the client hangs up', async () => {
    const big = key(`${base}/big.bin`);
    const mib = Array.from({ length: 32 }, () => randomBytes(1 << 20));
    await h.storage.write('artifacts', big, Readable.from(mib));
    const reads: ReadResult[] = [];
    const read = h.storage.read.bind(h.storage);
    const spy = jest.spyOn(h.storage, 'read').mockImplementation(async (...args) => {
      const r = await read(...args);
      reads.push(r);
      return r;
    });
    try {
      const controller = new AbortController();
      const res = await fetch(await h.storage.presignGet('artifacts', big, { expiresIn: 60 }), {
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await new Promise<void>((resolve) => {
        const poll = () => (reads[0]?.body.destroyed ? resolve() : setTimeout(poll, 10));
        poll();
      });
      expect(reads[0].body.destroyed).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});
