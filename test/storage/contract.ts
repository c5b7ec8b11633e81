/**
 * The storage contract suite: every driver must pass it unchanged. Run by
 * fs.contract.test.ts (temp dir + the gateway's blob route) and s3.contract.test.ts (real radosgw).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AlreadyExistsError, BadRequestError, NotFoundError, RangeNotSatisfiableError } from '../../src/errors';
import { toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import type { Storage } from '../../src/storage/storage';

export interface StorageHarness {
  storage: Storage;
  /** Removes everything the harness made (temp dirs, buckets). */
  cleanup(): Promise<void>;
}

const key = (s: string) => toStorageKey(s);
const prefix = (s: string) => toKeyPrefix(s);
const body = (data: string | Buffer) => Readable.from([Buffer.from(data)]);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A body that yields `chunks` chunks of `chunkSize` random bytes, then fails if `failAfter`. */
function generated(chunks: number, chunkSize: number, failAfter?: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let i = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && i === failAfter) {
        this.destroy(new Error('client went away'));
        return;
      }
      if (i === chunks) {
        this.push(null);
        return;
      }
      i++;
      const chunk = randomBytes(chunkSize);
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

async function streamDigest(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

export function describeStorageContract(name: string, setup: () => Promise<StorageHarness>): void {
  describe(`storage contract: ${name}`, () => {
    let harness: StorageHarness;
    let s: Storage;
    // every test works under its own prefix, so tests never see each other's objects
    let n = 0;
    let base: string;

    beforeAll(async () => {
      harness = await setup();
      s = harness.storage;
    });
    afterAll(async () => {
      await harness?.cleanup();
    });
    beforeEach(() => {
      base = `t${++n}-${randomBytes(3).toString('hex')}`;
    });

    describe('missing objects', () => {
      it('stat returns null for a key that does not exist', async () => {
        expect(await s.stat('artifacts', key(`${base}/nope.txt`))).toBeNull();
      });
      it('read throws NotFoundError for a key that does not exist', async () => {
        await expect(s.read('artifacts', key(`${base}/nope.txt`))).rejects.toBeInstanceOf(NotFoundError);
      });
      it('delete does not throw when the key is already absent', async () => {
        await expect(s.delete('artifacts', key(`${base}/nope.txt`))).resolves.toBeUndefined();
      });
      it('a prefix that holds nothing lists as one empty page', async () => {
        expect(await s.list('artifacts', prefix(`${base}/`))).toEqual({ items: [] });
      });
    });

    describe('write, stat and read', () => {
      it('round-trips bytes, size, content type and metadata', async () => {
        const k = key(`${base}/report/index.html`);
        const data = Buffer.from('<!doctype html><h1>hello</h1>');
        const written = await s.write('artifacts', k, body(data), {
          contentType: 'text/html; charset=utf-8',
          metadata: { sha256: sha256(data), writer: 'build-7' },
        });
        expect(written.key).toBe(k);
        expect(written.size).toBe(data.length);
        expect(written.etag).toMatch(/^"[^"]+"$/);

        const info = await s.stat('artifacts', k);
        expect(info).not.toBeNull();
        expect(info!.size).toBe(data.length);
        expect(info!.etag).toBe(written.etag);
        expect(info!.contentType).toBe('text/html; charset=utf-8');
        expect(info!.metadata).toEqual({ sha256: sha256(data), writer: 'build-7' });
        expect(Math.abs(info!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);

        const read = await s.read('artifacts', k);
        expect(read.info.size).toBe(data.length);
        expect(read.info.contentType).toBe('text/html; charset=utf-8');
        expect(await buffer(read.body)).toEqual(data);
      });

      it('stores an empty object', async () => {
        const k = key(`${base}/empty`);
        await s.write('artifacts', k, body(Buffer.alloc(0)), { contentLength: 0 });
        expect((await s.stat('artifacts', k))!.size).toBe(0);
        expect((await buffer((await s.read('artifacts', k)).body)).length).toBe(0);
      });

      it('overwrites without ifNoneMatch and gives the new content a new etag', async () => {
        const k = key(`${base}/a.txt`);
        const first = await s.write('artifacts', k, body('one'));
        const second = await s.write('artifacts', k, body('two!'));
        expect(second.etag).not.toBe(first.etag);
        expect((await buffer((await s.read('artifacts', k)).body)).toString()).toBe('two!');
      });

      it('keeps a key and a longer key below it apart ("a" and "a/b")', async () => {
        await s.write('artifacts', key(`${base}/a`), body('file'));
        await s.write('artifacts', key(`${base}/a/b`), body('nested'));
        expect((await buffer((await s.read('artifacts', key(`${base}/a`))).body)).toString()).toBe('file');
        expect((await buffer((await s.read('artifacts', key(`${base}/a/b`))).body)).toString()).toBe('nested');
      });

      it.each([
        'with space.txt',
        'ünïcødé/日本語.html',
        'a+b=c&d.txt',
        'hash#fragment?.txt',
        '[brackets] (parens) {braces}.json',
        'quote\'n"dq;semi,comma.txt',
        '%41percent%2e%2e.txt',
        'emoji-🚀.txt',
        'tilde~star*colon:at@dollar$.txt',
      ])('round-trips the key %j through write, stat, read, list and presigned GET', async (name) => {
        const k = key(`${base}/${name}`);
        await s.write('artifacts', k, body(`content of ${name}`));
        expect((await s.stat('artifacts', k))!.size).toBe(Buffer.byteLength(`content of ${name}`));
        expect((await buffer((await s.read('artifacts', k)).body)).toString()).toBe(`content of ${name}`);
        expect((await s.list('artifacts', prefix(`${base}/`))).items.map((i) => i.key)).toEqual([k]);
        const res = await fetch(await s.presignGet('artifacts', k, { expiresIn: 60 }));
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(`content of ${name}`);
      });

      it('keeps the two buckets apart', async () => {
        const k = key(`${base}/same-key`);
        await s.write('cache', k, body('cache bytes'));
        expect(await s.stat('artifacts', k)).toBeNull();
        expect((await s.stat('cache', k))!.size).toBe(11);
      });

      it('streams a body larger than one multipart part and reads back the same bytes', async () => {
        const k = key(`${base}/big.bin`);
        const src = generated(24, 1024 * 1024); // 24 MiB
        const written = await s.write('artifacts', k, src.stream, { contentType: 'application/octet-stream' });
        expect(written.size).toBe(24 * 1024 * 1024);
        const got = await streamDigest((await s.read('artifacts', k)).body);
        expect(got).toEqual({ size: 24 * 1024 * 1024, sha256: src.digest() });
      });

      it('deletes an object', async () => {
        const k = key(`${base}/gone.txt`);
        await s.write('artifacts', k, body('x'));
        await s.delete('artifacts', k);
        expect(await s.stat('artifacts', k)).toBeNull();
      });
    });

    describe('byte ranges', () => {
      const data = Buffer.from('0123456789abcdef');
      let k: ReturnType<typeof key>;
      beforeEach(async () => {
        k = key(`${base}/range.txt`);
        await s.write('artifacts', k, body(data));
      });

      it.each([
        [{ start: 0, end: 0 }, '0', { start: 0, end: 0 }],
        [{ start: 4, end: 9 }, '456789', { start: 4, end: 9 }],
        [{ start: 10 }, 'abcdef', { start: 10, end: 15 }],
        [{ start: 12, end: 1000 }, 'cdef', { start: 12, end: 15 }],
      ])('reads the range %j', async (range, expected, reported) => {
        const r = await s.read('artifacts', k, { range });
        expect((await buffer(r.body)).toString()).toBe(expected);
        expect(r.range).toEqual(reported);
        expect(r.info.size).toBe(data.length);
      });

      it('throws RangeNotSatisfiableError for a start at or past the end', async () => {
        await expect(s.read('artifacts', k, { range: { start: 16 } })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
      });

      it.each([[{ start: 9, end: 4 }], [{ start: -1, end: 4 }], [{ start: 1.5 }], [{ start: 0, end: Number.NaN }], [{ start: 20, end: 10 }]])(
        'refuses %j, which is no range, with BadRequestError (invalid_range)',
        async (range) => {
          const err = await s.read('artifacts', k, { range }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(BadRequestError);
          expect((err as BadRequestError).code).toBe('invalid_range');
          // the same on an empty object and on a missing one: the range is checked first
          await s.write('artifacts', key(`${base}/empty.txt`), body(''));
          await expect(s.read('artifacts', key(`${base}/empty.txt`), { range })).rejects.toBeInstanceOf(BadRequestError);
          await expect(s.read('artifacts', key(`${base}/missing.txt`), { range })).rejects.toBeInstanceOf(BadRequestError);
        },
      );
    });

    describe('failed writes leave nothing visible', () => {
      it('a body that fails halfway leaves no object and no listing entry', async () => {
        const k = key(`${base}/cut.bin`);
        const src = generated(12, 1024 * 1024, 7);
        await expect(s.write('artifacts', k, src.stream)).rejects.toThrow();
        expect(await s.stat('artifacts', k)).toBeNull();
        expect((await s.list('artifacts', prefix(`${base}/`))).items).toEqual([]);
      });

      it('a failed overwrite keeps the previous content', async () => {
        const k = key(`${base}/keep.txt`);
        await s.write('artifacts', k, body('original'));
        await expect(s.write('artifacts', k, generated(3, 1024, 1).stream)).rejects.toThrow();
        expect((await buffer((await s.read('artifacts', k)).body)).toString()).toBe('original');
      });

      it.each([
        ['shorter', 10, 'abc'],
        ['longer', 2, 'abcdef'],
      ])('a body %s than its declared contentLength is refused', async (_what, declared, content) => {
        const k = key(`${base}/len.txt`);
        await expect(s.write('artifacts', k, body(content), { contentLength: declared })).rejects.toThrow();
        expect(await s.stat('artifacts', k)).toBeNull();
      });
    });

    describe('create-only writes (ifNoneMatch)', () => {
      it('creates a key that is absent', async () => {
        const k = key(`${base}/once.txt`);
        await s.write('cache', k, body('first'), { ifNoneMatch: true });
        expect((await buffer((await s.read('cache', k)).body)).toString()).toBe('first');
      });

      it('refuses with AlreadyExistsError and keeps the first content', async () => {
        const k = key(`${base}/once.txt`);
        await s.write('cache', k, body('first'), { ifNoneMatch: true });
        await expect(s.write('cache', k, body('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
        expect((await buffer((await s.read('cache', k)).body)).toString()).toBe('first');
      });

      it('lets exactly one of 8 concurrent writers win, and the winner is what is stored', async () => {
        const k = key(`${base}/race.bin`);
        const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i + 1));
        const results = await Promise.allSettled(bodies.map((b) => s.write('cache', k, body(b), { ifNoneMatch: true })));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
        }
        expect(await buffer((await s.read('cache', k)).body)).toEqual(bodies[won[0]]);
      });

      it('lets exactly one of 3 concurrent large create-only writes of unknown length win, untorn', async () => {
        const k = key(`${base}/big-race.bin`);
        const sources = [1, 2, 3].map(() => generated(12, 1024 * 1024));
        const results = await Promise.allSettled(sources.map((src) => s.write('cache', k, src.stream, { ifNoneMatch: true })));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
        const got = await streamDigest((await s.read('cache', k)).body);
        expect(got).toEqual({ size: 12 * 1024 * 1024, sha256: sources[won[0]].digest() });
      });

      it('refuses a create-only write of a large (multipart-sized) body when the key exists', async () => {
        const k = key(`${base}/big-once.bin`);
        await s.write('cache', k, body('small winner'), { ifNoneMatch: true });
        await expect(s.write('cache', k, generated(12, 1024 * 1024).stream, { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
        expect((await buffer((await s.read('cache', k)).body)).toString()).toBe('small winner');
      });
    });

    describe('listing', () => {
      it('lists recursively below a prefix in UTF-8 byte order', async () => {
        const names = ['a/b', 'a-c', 'a', 'b/c/d/e.txt', 'Z', 'é', 'a b'];
        for (const name of names) await s.write('artifacts', key(`${base}/${name}`), body(name));
        await s.write('artifacts', key(`${base}x/outside`), body('x'));
        const page = await s.list('artifacts', prefix(`${base}/`));
        const expected = names.map((name) => `${base}/${name}`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(page.items.map((i) => i.key)).toEqual(expected);
        expect(page.nextPageToken).toBeUndefined();
        for (const item of page.items) {
          expect(item.size).toBe(Buffer.byteLength(item.key.slice(base.length + 1)));
          expect(item.etag).toMatch(/^"[^"]+"$/);
          expect(item.lastModified).toBeInstanceOf(Date);
        }
      });

      it('treats a prefix without a trailing slash as a plain string prefix', async () => {
        await s.write('artifacts', key(`${base}/report/a`), body('1'));
        await s.write('artifacts', key(`${base}/reports/b`), body('2'));
        await s.write('artifacts', key(`${base}/other`), body('3'));
        const page = await s.list('artifacts', prefix(`${base}/report`));
        expect(page.items.map((i) => i.key)).toEqual([`${base}/report/a`, `${base}/reports/b`]);
      });

      it('pages with limit and nextPageToken, every key exactly once', async () => {
        const keys = Array.from({ length: 7 }, (_, i) => `${base}/p/${String(i).padStart(2, '0')}`);
        for (const k of keys) await s.write('artifacts', key(k), body(k));
        const seen: string[] = [];
        let pageToken: string | undefined;
        let pages = 0;
        do {
          const page = await s.list('artifacts', prefix(`${base}/p/`), { limit: 3, pageToken });
          expect(page.items.length).toBeLessThanOrEqual(3);
          seen.push(...page.items.map((i) => i.key));
          pageToken = page.nextPageToken;
          pages++;
        } while (pageToken);
        expect(seen).toEqual(keys);
        expect(pages).toBe(3);
      });

      it('clamps a limit above 1000 to 1000, as S3 does, and pages on from there', async () => {
        const keys = Array.from({ length: 1003 }, (_, i) => `${base}/many/${String(i).padStart(4, '0')}`);
        for (let i = 0; i < keys.length; i += 32) {
          await Promise.all(keys.slice(i, i + 32).map((k) => s.write('artifacts', key(k), body('x'))));
        }
        const first = await s.list('artifacts', prefix(`${base}/many/`), { limit: 5000 });
        expect(first.items).toHaveLength(1000);
        expect(first.nextPageToken).toBeDefined();
        const rest = await s.list('artifacts', prefix(`${base}/many/`), { limit: 5000, pageToken: first.nextPageToken });
        expect([...first.items, ...rest.items].map((i) => i.key)).toEqual(keys);
        expect(rest.nextPageToken).toBeUndefined();
      });

      it.each([0, -1, 2.5, Number.NaN])('refuses the limit %p with BadRequestError', async (limit) => {
        await expect(s.list('artifacts', prefix(`${base}/p/`), { limit })).rejects.toBeInstanceOf(BadRequestError);
      });

      it.each(['not a token', 'Zm9v', '%%%'])('refuses the page token %j that no listing gave out', async (pageToken) => {
        await expect(s.list('artifacts', prefix(`${base}/p/`), { pageToken })).rejects.toBeInstanceOf(BadRequestError);
      });
    });

    describe('listing one level (listPrefixes)', () => {
      it('lists the distinct prefixes one level below, in UTF-8 byte order, without the keys at that level', async () => {
        const names = ['a/x', 'a/y/z', 'a-b/1', 'b/1', 'é/1', 'Z/deep/er/still', 'plain'];
        for (const name of names) await s.write('artifacts', key(`${base}/lv/${name}`), body(name));
        await s.write('artifacts', key(`${base}/lvx/outside`), body('x'));
        const page = await s.listPrefixes('artifacts', prefix(`${base}/lv/`));
        const expected = ['a/', 'a-b/', 'b/', 'é/', 'Z/'].map((p) => `${base}/lv/${p}`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(page.prefixes).toEqual(expected);
        expect(page.nextPageToken).toBeUndefined();
      });

      it('pages with limit and nextPageToken, every prefix exactly once, however many keys lie below each', async () => {
        const dirs = Array.from({ length: 5 }, (_, i) => `${base}/pg/${String(i).padStart(2, '0')}/`);
        for (const d of dirs) for (const leaf of ['a', 'b', 'c/d']) await s.write('artifacts', key(`${d}${leaf}`), body(leaf));
        for (const limit of [1, 2]) {
          const seen: string[] = [];
          let pageToken: string | undefined;
          do {
            const page = await s.listPrefixes('artifacts', prefix(`${base}/pg/`), { limit, pageToken });
            expect(page.prefixes.length).toBeLessThanOrEqual(limit);
            seen.push(...page.prefixes);
            pageToken = page.nextPageToken;
          } while (pageToken);
          expect(seen).toEqual(dirs);
        }
      });

      it('lists nothing below a prefix that holds nothing, and no longer lists a level whose keys are all deleted', async () => {
        expect(await s.listPrefixes('artifacts', prefix(`${base}/none/`))).toEqual({ prefixes: [] });
        await s.write('artifacts', key(`${base}/gone/a/b`), body('x'));
        await s.delete('artifacts', key(`${base}/gone/a/b`));
        expect(await s.listPrefixes('artifacts', prefix(`${base}/gone/`))).toEqual({ prefixes: [] });
      });

      it('refuses a prefix that does not end in a slash, and a page token it never gave out', async () => {
        await expect(s.listPrefixes('artifacts', prefix(`${base}/lv`))).rejects.toBeInstanceOf(BadRequestError);
        await expect(s.listPrefixes('artifacts', prefix(`${base}/lv/`), { pageToken: 'Zm9v' })).rejects.toBeInstanceOf(BadRequestError);
      });
    });

    describe('presigned URLs', () => {
      it('GET returns the bytes with the content type and disposition overrides', async () => {
        const k = key(`${base}/shot.png`);
        const data = randomBytes(2048);
        await s.write('artifacts', k, body(data), { contentType: 'application/octet-stream' });
        const url = await s.presignGet('artifacts', k, {
          expiresIn: 60,
          responseContentType: 'image/png',
          responseContentDisposition: 'attachment; filename="shot.png"',
        });
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('image/png');
        expect(res.headers.get('content-disposition')).toBe('attachment; filename="shot.png"');
        expect(Buffer.from(await res.arrayBuffer())).toEqual(data);
      });

      it('GET honours a Range header', async () => {
        const k = key(`${base}/r.txt`);
        await s.write('artifacts', k, body('0123456789'));
        const res = await fetch(await s.presignGet('artifacts', k, { expiresIn: 60 }), {
          headers: { Range: 'bytes=2-4' },
        });
        expect(res.status).toBe(206);
        expect(await res.text()).toBe('234');
      });

      it('GET answers 403 once the URL has expired', async () => {
        const k = key(`${base}/short.txt`);
        await s.write('artifacts', k, body('x'));
        const url = await s.presignGet('artifacts', k, { expiresIn: 1 });
        await new Promise((r) => setTimeout(r, 2100));
        const res = await fetch(url);
        expect(res.status).toBe(403);
        await res.arrayBuffer();
      });

      it('GET answers 403 when the signature or an override was tampered with', async () => {
        const k = key(`${base}/t.txt`);
        await s.write('artifacts', k, body('x'));
        const url = new URL(await s.presignGet('artifacts', k, { expiresIn: 60, responseContentType: 'text/plain' }));
        url.searchParams.set('response-content-type', 'text/html');
        const res = await fetch(url);
        expect(res.status).toBe(403);
        await res.arrayBuffer();
      });

      it('a GET URL for one key does not open another', async () => {
        await s.write('artifacts', key(`${base}/one`), body('1'));
        await s.write('artifacts', key(`${base}/two`), body('2'));
        const url = await s.presignGet('artifacts', key(`${base}/one`), { expiresIn: 60 });
        const res = await fetch(url.replace(`${base}/one`, `${base}/two`));
        expect(res.status).toBe(403);
        await res.arrayBuffer();
      });

      it('GET of a missing key answers 404', async () => {
        const res = await fetch(await s.presignGet('artifacts', key(`${base}/missing`), { expiresIn: 60 }));
        expect(res.status).toBe(404);
        await res.arrayBuffer();
      });

      it('PUT stores the body under the key', async () => {
        const k = key(`${base}/uploaded.bin`);
        const data = randomBytes(4096);
        const url = await s.presignPut('cache', k, { expiresIn: 60 });
        const res = await fetch(url, { method: 'PUT', body: data });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        expect(await buffer((await s.read('cache', k)).body)).toEqual(data);
      });
    });

    describe('multipart uploads through presigned part URLs', () => {
      const putPart = async (url: string, data: Buffer) => {
        const res = await fetch(url, { method: 'PUT', body: data });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        const etag = res.headers.get('etag');
        expect(etag).toBeTruthy();
        return etag!;
      };

      it('assembles the parts in order, and nothing is visible before completion', async () => {
        const k = key(`${base}/mp.bin`);
        const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1234)];
        const uploadId = await s.createMultipartUpload('cache', k);
        const etags: string[] = [];
        for (const [i, data] of parts.entries()) {
          etags.push(await putPart(await s.presignUploadPart('cache', k, uploadId, i + 1, { expiresIn: 60 }), data));
        }
        expect(await s.stat('cache', k)).toBeNull();
        const info = await s.completeMultipartUpload(
          'cache',
          k,
          uploadId,
          etags.map((etag, i) => ({ partNumber: i + 1, etag })),
        );
        expect(info.size).toBe(10 * 1024 * 1024 + 1234);
        const got = await streamDigest((await s.read('cache', k)).body);
        expect(got.sha256).toBe(sha256(Buffer.concat(parts)));
        // the parts are gone: nothing but the object is listed
        expect((await s.list('cache', prefix(`${base}/`))).items.map((i) => i.key)).toEqual([k]);
      });

      it('removeAbandonedWrites aborts an upload started before the cutoff, and keeps one started after', async () => {
        const k = key(`${base}/mp-abandoned.bin`);
        const uploadId = await s.createMultipartUpload('cache', k);
        const etag = await putPart(await s.presignUploadPart('cache', k, uploadId, 1, { expiresIn: 60 }), randomBytes(1000));
        // started after the cutoff: it may be in flight
        await s.removeAbandonedWrites(new Date(Date.now() - 3_600_000));
        const kept = key(`${base}/mp-kept.bin`);
        const keptId = await s.createMultipartUpload('cache', kept);
        const keptEtag = await putPart(await s.presignUploadPart('cache', kept, keptId, 1, { expiresIn: 60 }), randomBytes(10));
        expect((await s.completeMultipartUpload('cache', kept, keptId, [{ partNumber: 1, etag: keptEtag }])).size).toBe(10);

        const removed = await s.removeAbandonedWrites(new Date(Date.now() + 60_000));
        expect(removed.count).toBeGreaterThanOrEqual(1);
        await expect(s.completeMultipartUpload('cache', k, uploadId, [{ partNumber: 1, etag }])).rejects.toThrow();
        expect(await s.stat('cache', k)).toBeNull();
        expect((await s.list('cache', prefix(`${base}/`))).items.map((i) => i.key)).toEqual([kept]);
      });

      it('refuses to complete with an etag that does not match the uploaded part', async () => {
        const k = key(`${base}/mp-bad.bin`);
        const uploadId = await s.createMultipartUpload('cache', k);
        await putPart(await s.presignUploadPart('cache', k, uploadId, 1, { expiresIn: 60 }), randomBytes(1000));
        await expect(s.completeMultipartUpload('cache', k, uploadId, [{ partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"' }])).rejects.toBeInstanceOf(
          BadRequestError,
        );
        expect(await s.stat('cache', k)).toBeNull();
        await s.abortMultipartUpload('cache', k, uploadId);
      });

      it('cannot complete an aborted upload, and aborting twice does not throw', async () => {
        const k = key(`${base}/mp-abort.bin`);
        const uploadId = await s.createMultipartUpload('cache', k);
        const etag = await putPart(await s.presignUploadPart('cache', k, uploadId, 1, { expiresIn: 60 }), randomBytes(1000));
        await s.abortMultipartUpload('cache', k, uploadId);
        await expect(s.abortMultipartUpload('cache', k, uploadId)).resolves.toBeUndefined();
        // radosgw 16 answers this with 500 InternalError rather than 404 NoSuchUpload, so the
        // contract is only that it fails and leaves nothing behind
        await expect(s.completeMultipartUpload('cache', k, uploadId, [{ partNumber: 1, etag }])).rejects.toThrow();
        expect(await s.stat('cache', k)).toBeNull();
      });
    });

    describe('reads can be cancelled', () => {
      it('aborting the signal destroys the body stream', async () => {
        const k = key(`${base}/abort.bin`);
        await s.write('artifacts', k, generated(8, 1024 * 1024).stream);
        const controller = new AbortController();
        const r = await s.read('artifacts', k, { signal: controller.signal });
        const closed = new Promise((resolve) => r.body.once('close', resolve));
        controller.abort();
        await closed;
        expect(r.body.destroyed).toBe(true);
      });
    });

    it('ping resolves when storage answers', async () => {
      await expect(s.ping()).resolves.toBeUndefined();
    });
  });
}
