/**
 * The GitHub Actions cache service against the real @actions/cache 6.3 (the library behind
 * actions/cache), each save and restore a node process with the environment a runner gives a
 * step: v2 (ACTIONS_CACHE_SERVICE_V2, Twirp + the Azure Block Blob upload URL, through Azure's
 * own SDK) and v1 (ACTIONS_CACHE_URL, REST with chunked PATCH). Then what no well-behaved client
 * sends, over plain HTTP.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UploadUrlSigner } from '../../src/protocols/actions/upload-url';
import { runCli } from '../support/cli';
import { DRIVERS } from '../support/drivers';
import { PROJECT, scratch, startProtocolGateway, truncatedPut, type ProtocolGateway } from './support';

const START_MS = 180_000;
const RUNNER = resolve(__dirname, 'actions-cache/runner.mjs');
const MiB = 1024 * 1024;
/** Room for one archive above the client's 128 MiB single-shot size, so it uploads in blocks. */
const MAX_BYTES = 200 * MiB;
const SERVICE = '/twirp/github.actions.results.api.v1.CacheService';
const VERSION = 'a'.repeat(64);

type Api = 'v1' | 'v2';

describe.each(DRIVERS)('GitHub Actions cache service (%s driver)', (driver) => {
  let gw: ProtocolGateway;
  let work: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    gw = await startProtocolGateway(driver, { CACHE_MAX_BYTES: String(MAX_BYTES) });
    work = await scratch();
  }, START_MS);
  afterAll(async () => {
    await gw?.stop();
    await work?.remove();
  });

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const stored = () => gw.metric('agw_protocol_cache_requests_total', { protocol: 'actions', result: 'stored' });

  /** A workspace with `data/` holding `files` (name -> bytes). */
  async function workspace(files: Record<string, Buffer> = {}): Promise<string> {
    const dir = await mkdtemp(join(work.dir, 'ws-'));
    await mkdir(join(dir, 'data'));
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, 'data', name), bytes);
    return dir;
  }

  /** One actions/cache step on a runner pointed at the gateway. */
  async function step(api: Api, token: string, cwd: string, args: string[]): Promise<{ result: unknown; out: string }> {
    const resultFile = join(cwd, '..', `${randomBytes(4).toString('hex')}.json`);
    const temp = await mkdtemp(join(work.dir, 'runner-temp-'));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: work.dir,
      RUNNER_TEMP: temp,
      GITHUB_WORKSPACE: cwd,
      GITHUB_SERVER_URL: 'https://github.com',
      ACTIONS_RUNTIME_TOKEN: token,
      RESULT_FILE: resultFile,
      // the trailing slash matters: v1 appends `_apis/…` to it (cacheHttpClient.ts)
      ...(api === 'v2' ? { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: `${gw.url}/` } : { ACTIONS_CACHE_URL: `${gw.url}/` }),
    };
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [RUNNER, ...args], { cwd, env, timeout: 120_000, maxBuffer: 16 * MiB });
    const { result } = JSON.parse(await readFile(resultFile, 'utf8')) as { result: unknown };
    return { result, out: stdout + stderr };
  }
  const save = (api: Api, token: string, cwd: string, key: string, paths = ['data'], options?: object) =>
    step(api, token, cwd, ['save', JSON.stringify(paths), key, ...(options ? [JSON.stringify(options)] : [])]);
  const restore = (api: Api, token: string, cwd: string, key: string, restoreKeys: string[] = [], paths = ['data']) =>
    step(api, token, cwd, ['restore', JSON.stringify(paths), key, JSON.stringify(restoreKeys)]);

  describe.each(['v2', 'v1'] as const)('cache service %s', (api) => {
    it('misses, saves, then restores into a clean workspace by key and by restore key, only within the version', async () => {
      const files = { 'a.txt': randomBytes(3000), 'b.bin': randomBytes(70_000) };
      const key = `${api}-linux-deps-1`;
      const first = await restore(api, gw.tokens.trusted, await workspace(), key);
      expect(first.result).toBeNull();

      const before = await stored();
      const saved = await save(api, gw.tokens.trusted, await workspace(files), key);
      expect(saved.result).toEqual(expect.any(Number));
      if (api === 'v2') expect(saved.result).toBeGreaterThan(0); // the entry id; v1's saveCache answers -1 whatever happens
      // the client's log shows why when it did not save
      expect(saved.out).toMatch(/Cache saved successfully|Sent \d+ of \d+ \(100\.0%\)/);
      expect(await stored()).toBe(before + 1);

      const exact = await workspace();
      expect((await restore(api, gw.tokens.trusted, exact, key)).result).toBe(key);
      for (const [name, bytes] of Object.entries(files)) expect((await readFile(join(exact, 'data', name))).equals(bytes)).toBe(true);

      const byPrefix = await workspace();
      const fallback = await restore(api, gw.tokens.trusted, byPrefix, `${api}-linux-deps-2`, [`${api}-linux-`]);
      expect(fallback.result).toBe(key);
      expect((await readFile(join(byPrefix, 'data', 'b.bin'))).equals(files['b.bin'])).toBe(true);

      // other paths are another version: neither the key nor the prefix matches
      expect((await restore(api, gw.tokens.trusted, await workspace(), key, [`${api}-linux-`], ['data', 'other'])).result).toBeNull();

      // write-once: a second save of the key and version is refused as GitHub refuses it
      const again = await save(api, gw.tokens.trusted, await workspace({ 'a.txt': Buffer.from('other') }), key);
      expect(again.out).toMatch(/already exists/);
      expect(await stored()).toBe(before + 1);
      const still = await workspace();
      await restore(api, gw.tokens.trusted, still, key);
      expect((await readFile(join(still, 'data', 'a.txt'))).equals(files['a.txt'])).toBe(true);
    }, 120_000);

    it("never restores a pull request's save in a trusted job", async () => {
      const key = `${api}-poison-1`;
      const pr = await workspace({ 'a.txt': Buffer.from('evil') });
      await save(api, gw.tokens.untrusted, pr, key);
      expect((await restore(api, gw.tokens.trusted, await workspace(), key, [`${api}-poison-`])).result).toBeNull();
      // the pull request itself restores its own scope
      const own = await workspace();
      expect((await restore(api, gw.tokens.untrusted, own, key)).result).toBe(key);
      expect(await readFile(join(own, 'data', 'a.txt'), 'utf8')).toBe('evil');
    }, 120_000);
  });

  it('v1: a save in many chunks, four at once, restores byte for byte', async () => {
    const bytes = randomBytes(3 * MiB);
    const before = await stored();
    const saved = await save('v1', gw.tokens.trusted, await workspace({ 'big.bin': bytes }), 'v1-chunked-1', ['data'], {
      uploadChunkSize: 256 * 1024,
      uploadConcurrency: 4,
    });
    expect(saved.out).toMatch(/Cache saved successfully/);
    expect(await stored()).toBe(before + 1);
    const out = await workspace();
    expect((await restore('v1', gw.tokens.trusted, out, 'v1-chunked-1')).result).toBe('v1-chunked-1');
    expect((await readFile(join(out, 'data', 'big.bin'))).equals(bytes)).toBe(true);
  }, 120_000);

  it('v2: an archive over 128 MiB goes up in 64 MiB blocks, 8 at once, and restores byte for byte', async () => {
    const dir = await workspace();
    // incompressible, so the archive stays over the client's single-shot size
    const file = join(dir, 'data', 'big.bin');
    const hash = createHash('sha256');
    await new Promise<void>((done, fail) => {
      const out = createWriteStream(file);
      out.on('error', fail).on('finish', done);
      for (let i = 0; i < 132; i++) {
        const chunk = randomBytes(MiB);
        hash.update(chunk);
        out.write(chunk);
      }
      out.end();
    });
    const digest = hash.digest('hex');
    const before = await stored();
    const saved = await save('v2', gw.tokens.trusted, dir, 'v2-big-1');
    expect(saved.result).toBeGreaterThan(0);
    expect(await stored()).toBe(before + 1);

    const into = await workspace();
    expect((await restore('v2', gw.tokens.trusted, into, 'v2-big-1')).result).toBe('v2-big-1');
    const back = createHash('sha256');
    for await (const c of createReadStream(join(into, 'data', 'big.bin'))) back.update(c as Buffer);
    expect(back.digest('hex')).toBe(digest);
  }, 300_000);

  describe('what no well-behaved client sends', () => {
    const twirp = (method: string, body: unknown, token: string | null = gw.tokens.trusted) =>
      gw.api({
        method: 'POST',
        path: `${SERVICE}/${method}`,
        headers: { 'content-type': 'application/json', ...(token ? auth(token) : {}) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const uploadUrl = async (key: string, token = gw.tokens.trusted): Promise<string> => {
      const r = await twirp('CreateCacheEntry', { key, version: VERSION }, token);
      expect(r.json()).toMatchObject({ ok: true });
      const url = new URL(r.json().signed_upload_url as string);
      return url.pathname + url.search;
    };
    const put = (path: string, body: Buffer | string, headers: Record<string, string> = {}) =>
      gw.api({ method: 'PUT', path, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers }, body });
    const blockList = (ids: string[]) => `<?xml version="1.0" encoding="UTF-8"?><BlockList>${ids.map((i) => `<Latest>${i}</Latest>`).join('')}</BlockList>`;
    const lookup = async (key: string) => (await twirp('GetCacheEntryDownloadURL', { key, restore_keys: [], version: VERSION })).json();

    it('Twirp: no or a bad token, malformed JSON, an unknown method or service', async () => {
      const none = await twirp('GetCacheEntryDownloadURL', { key: 'k', version: VERSION }, null);
      expect(none.status).toBe(401);
      expect(none.json()).toEqual({ code: 'unauthenticated', msg: expect.stringMatching(/job token/) });
      const forged = await twirp('GetCacheEntryDownloadURL', { key: 'k', version: VERSION }, 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA');
      expect(forged.status).toBe(401);
      expect(forged.json().code).toBe('unauthenticated');

      const malformed = await twirp('CreateCacheEntry', '{"key": ');
      expect(malformed.status).toBe(400);
      expect(malformed.json()).toEqual({ code: 'malformed', msg: expect.stringMatching(/not valid JSON/) });
      const badVersion = await twirp('CreateCacheEntry', { key: 'k', version: '../x' });
      expect(badVersion.status).toBe(400);
      expect(badVersion.json()).toEqual({ code: 'invalid_argument', msg: expect.stringMatching(/version/) });

      const unknown = await twirp('DeleteCacheEntry', {});
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toEqual({ code: 'bad_route', msg: expect.stringMatching(/DeleteCacheEntry/) });
      // upload-artifact shares ACTIONS_RESULTS_URL: told clearly, never taken for a cache call
      const artifact = await gw.api({
        method: 'POST',
        path: '/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact',
        headers: { 'content-type': 'application/json', ...auth(gw.tokens.trusted) },
        body: '{}',
      });
      expect(artifact.status).toBe(404);
      expect(artifact.json()).toEqual({ code: 'bad_route', msg: expect.stringMatching(/only the GitHub Actions cache service.*artifacts/) });

      // a token that may only read is told so in the words the client looks for
      const readOnly = await twirp('CreateCacheEntry', { key: 'k', version: VERSION }, gw.tokens.readOnly);
      expect(readOnly.json()).toMatchObject({ ok: false, message: expect.stringMatching(/^cache write denied: /) });
      const other = await gw.api({ method: 'GET', path: '/_apis/pipelines/workflows/1/artifacts', headers: auth(gw.tokens.trusted) });
      expect(other.status).toBe(404);
      expect(other.json().message).toMatch(/only the GitHub Actions cache service/);
    });

    it('the upload URL: altered, unsigned or signed with another key is refused; the log never shows its signature', async () => {
      const path = await uploadUrl('sig-1');
      const body = randomBytes(1000);
      const altered = path.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`);
      const r1 = await put(altered, body, { 'x-ms-blob-type': 'BlockBlob' });
      expect(r1.status).toBe(403);
      expect(r1.headers['x-ms-error-code']).toBe('AuthenticationFailed');
      expect(r1.text).toMatch(/<Error><Code>AuthenticationFailed<\/Code><Message>the upload URL signature does not match<\/Message><\/Error>/);
      expect((await put(path.replace(/&sig=[^&]+/, ''), body, { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(403);
      const u = new URL(path, gw.url);
      const id = u.pathname.split('/').pop()!;
      const forged = new URL(
        new UploadUrlSigner(randomBytes(32), gw.url, Date.now).sign({ project: PROJECT, uploadId: id, nonce: u.searchParams.get('nonce')! }, 60),
      );
      expect((await put(forged.pathname + forged.search, body, { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(403);
      // a longer life is another signature
      const extended = path.replace(/expires=(\d+)/, (_m, e: string) => `expires=${Number(e) + 3600}`);
      expect((await put(extended, body, { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(403);
      expect((await lookup('sig-1')).ok).toBe(false);
      const sig = new URL(path, gw.url).searchParams.get('sig')!;
      expect(gw.logs()).toMatch(/actions-cache\/blobs/);
      expect(gw.logs()).not.toContain(sig);
    });

    it('a save in progress: the same job gets its upload again, another job of the scope is told to wait', async () => {
      const first = new URL(await uploadUrl('busy-1'), gw.url);
      const again = new URL(await uploadUrl('busy-1'), gw.url);
      // the same upload (blob and nonce), its URL signed afresh: `expires` counts from this answer
      expect(again.pathname).toBe(first.pathname);
      expect(again.searchParams.get('nonce')).toBe(first.searchParams.get('nonce'));
      expect(Number(again.searchParams.get('expires'))).toBeGreaterThanOrEqual(Number(first.searchParams.get('expires')));
      expect((await put(again.pathname + again.search, Buffer.from('busy'), { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(201);
      const minted = await runCli(['token', '--project', PROJECT, '--build', '5'], gw.env);
      const other = await twirp('CreateCacheEntry', { key: 'busy-1', version: VERSION }, minted.stdout.trim());
      expect(other.json()).toMatchObject({ ok: false, message: expect.stringMatching(/another job is saving/) });
      // nor can it finalize the first job's save
      const finalize = await twirp('FinalizeCacheEntryUpload', { key: 'busy-1', version: VERSION, size_bytes: '0' }, minted.stdout.trim());
      expect(finalize.json()).toMatchObject({ ok: false, message: expect.stringMatching(/no save/) });
    });

    it('blocks: any order, committed by the block list; an unknown block id commits nothing', async () => {
      const path = await uploadUrl('blocks-1');
      const a = randomBytes(5000);
      const b = randomBytes(3000);
      const id = (n: number) => Buffer.from(`block-${n}`.padEnd(12, '.')).toString('base64');
      // the second block first
      const r2 = await put(`${path}&comp=block&blockid=${encodeURIComponent(id(2))}`, b);
      expect(r2.status).toBe(201);
      expect(r2.headers['x-ms-request-id']).toEqual(expect.any(String));
      expect((await put(`${path}&comp=block&blockid=${encodeURIComponent(id(1))}`, a)).status).toBe(201);

      const unknown = await put(`${path}&comp=blocklist`, blockList([id(1), id(3)]));
      expect(unknown.status).toBe(400);
      expect(unknown.headers['x-ms-error-code']).toBe('InvalidBlockList');
      expect(unknown.text).toMatch(/never uploaded/);
      const early = await twirp('FinalizeCacheEntryUpload', { key: 'blocks-1', version: VERSION, size_bytes: '8000' });
      expect(early.json()).toMatchObject({ ok: false, message: expect.stringMatching(/nothing was uploaded/) });
      expect((await lookup('blocks-1')).ok).toBe(false);

      expect((await put(`${path}&comp=blocklist`, blockList([id(1), id(2)]))).status).toBe(201);
      const wrongSize = await twirp('FinalizeCacheEntryUpload', { key: 'blocks-1', version: VERSION, size_bytes: '7999' });
      expect(wrongSize.json()).toMatchObject({ ok: false, message: expect.stringMatching(/8000 bytes/) });
      expect((await lookup('blocks-1')).ok).toBe(false);
      const done = await twirp('FinalizeCacheEntryUpload', { key: 'blocks-1', version: VERSION, size_bytes: '8000' });
      expect(done.json()).toMatchObject({ ok: true, entry_id: expect.stringMatching(/^\d+$/) });

      const hit = await lookup('blocks-1');
      expect(hit).toMatchObject({ ok: true, matched_key: 'blocks-1' });
      const download = await fetch(hit.signed_download_url as string);
      expect(Buffer.from(await download.arrayBuffer()).equals(Buffer.concat([a, b]))).toBe(true);
      // finalized: the URL takes nothing more, and the key is write-once
      expect((await put(path, a, { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(404);
      expect((await twirp('CreateCacheEntry', { key: 'blocks-1', version: VERSION })).json()).toMatchObject({
        ok: false,
        message: expect.stringMatching(/already exists/),
      });
    });

    it('a block cut short, a body over the limit, a malformed block list: nothing visible', async () => {
      const path = await uploadUrl('cut-1');
      const id = Buffer.from('block-000001').toString('base64');
      await truncatedPut(gw.port, `${path}&comp=block&blockid=${encodeURIComponent(id)}`, {}, 4000);
      const list = await put(`${path}&comp=blocklist`, blockList([id]));
      expect(list.status).toBe(400);
      expect(list.headers['x-ms-error-code']).toBe('InvalidBlockList');
      await truncatedPut(gw.port, path, { 'x-ms-blob-type': 'BlockBlob' }, 4000);
      expect((await twirp('FinalizeCacheEntryUpload', { key: 'cut-1', version: VERSION, size_bytes: '4000' })).json()).toMatchObject({ ok: false });
      expect((await lookup('cut-1')).ok).toBe(false);

      const big = await gw.api({ method: 'PUT', path, headers: { 'content-length': String(MAX_BYTES + 1), 'x-ms-blob-type': 'BlockBlob' } });
      expect(big.status).toBe(413);
      expect(big.headers['x-ms-error-code']).toBe('RequestBodyTooLarge');
      expect((await put(`${path}&comp=blocklist`, '<BlockList><Latest>x</BlockList>')).headers['x-ms-error-code']).toBe('InvalidXmlDocument');
      expect((await put(`${path}&comp=block&blockid=not%20base64`, 'x')).headers['x-ms-error-code']).toBe('InvalidQueryParameterValue');
      expect((await put(path, 'x')).headers['x-ms-error-code']).toBe('InvalidHeaderValue');
      expect((await lookup('cut-1')).ok).toBe(false);
    });

    it('v1: chunks in any order; gaps, overlaps and a wrong size commit nothing', async () => {
      const v1 = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
        gw.api({
          method,
          path: `/_apis/artifactcache/${path}`,
          headers: {
            accept: 'application/json;api-version=6.0-preview.1',
            ...auth(gw.tokens.trusted),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const chunk = (id: number, start: number, bytes: Buffer) =>
        gw.api({
          method: 'PATCH',
          path: `/_apis/artifactcache/caches/${id}`,
          headers: {
            ...auth(gw.tokens.trusted),
            'content-type': 'application/octet-stream',
            'content-range': `bytes ${start}-${start + bytes.length - 1}/*`,
            'content-length': bytes.length,
          },
          body: bytes,
        });
      const bytes = randomBytes(9000);
      const reserve = await v1('POST', 'caches', { key: 'v1-raw-1', version: VERSION, cacheSize: 9000 });
      expect(reserve.status).toBe(201);
      const { cacheId } = reserve.json() as { cacheId: number };
      expect(cacheId).toEqual(expect.any(Number));
      expect((await v1('POST', 'caches', { key: 'v1-raw-1', version: VERSION, cacheSize: 9000 })).status).toBe(201); // not yet saved: another job may race

      expect((await chunk(cacheId, 6000, bytes.subarray(6000))).status).toBe(204);
      expect((await chunk(cacheId, 0, bytes.subarray(0, 3000))).status).toBe(204);
      const gap = await v1('POST', `caches/${cacheId}`, { size: 9000 });
      expect(gap.status).toBe(400);
      expect(gap.json().message).toMatch(/bytes 3000-5999 were never uploaded/);
      expect((await chunk(cacheId, 2000, bytes.subarray(2000, 6000))).status).toBe(204);
      const overlap = await v1('POST', `caches/${cacheId}`, { size: 9000 });
      expect(overlap.status).toBe(400);
      expect(overlap.json().message).toMatch(/overlaps/);
      expect((await v1('GET', `cache?keys=v1-raw-1&version=${VERSION}`)).status).toBe(204);

      // a fresh reservation, its chunks last to first
      const { cacheId: id2 } = (await v1('POST', 'caches', { key: 'v1-raw-1', version: VERSION, cacheSize: 9000 })).json() as { cacheId: number };
      for (const start of [6000, 3000, 0]) expect((await chunk(id2, start, bytes.subarray(start, start + 3000))).status).toBe(204);
      const past = await chunk(id2, 9000, Buffer.from('x'));
      expect(past.status).toBe(400);
      const badSize = await v1('POST', `caches/${id2}`, { size: 8999 });
      expect(badSize.status).toBe(400);
      expect(badSize.json().message).toMatch(/reserved for 9000 bytes/);
      expect((await v1('POST', `caches/${id2}`, { size: 9000 })).status).toBe(204);

      const hit = await v1('GET', `cache?keys=v1-raw-2,v1-raw-&version=${VERSION}`);
      expect(hit.status).toBe(200);
      expect(hit.json()).toMatchObject({ cacheKey: 'v1-raw-1', cacheVersion: VERSION, scope: 'branch:main' });
      const download = await fetch(hit.json().archiveLocation as string);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
      expect((await v1('GET', `cache?keys=v1-raw-1&version=${'b'.repeat(64)}`)).status).toBe(204);

      const dup = await v1('POST', 'caches', { key: 'v1-raw-1', version: VERSION, cacheSize: 9000 });
      expect(dup.status).toBe(409);
      expect(dup.json().message).toMatch(/already exists/);
      expect((await v1('POST', 'caches', { key: 'v1-raw-3', version: VERSION, cacheSize: MAX_BYTES + 1 })).status).toBe(400);
      expect((await gw.api({ method: 'GET', path: `/_apis/artifactcache/cache?keys=x&version=${VERSION}` })).status).toBe(401);
      const stranger = await gw.api({
        method: 'POST',
        path: `/_apis/artifactcache/caches/${id2}`,
        headers: { ...auth(gw.tokens.untrusted), 'content-type': 'application/json' },
        body: '{"size":9000}',
      });
      expect(stranger.status).toBe(404);
    });
  });
});

describe('the upload URL signer', () => {
  it('refuses a URL once it has expired', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const signer = new UploadUrlSigner(Buffer.alloc(32, 1), 'http://gw.example', () => now);
    const grant = { project: 'acme', uploadId: '00000000-0000-4000-8000-000000000001', nonce: 'n' };
    const url = new URL(signer.sign(grant, 60));
    expect(signer.verify('acme', grant.uploadId, url.searchParams)).toEqual(grant);
    expect(() => signer.verify('other', grant.uploadId, url.searchParams)).toThrow(/does not match/);
    now += 60_000;
    expect(() => signer.verify('acme', grant.uploadId, url.searchParams)).toThrow(/expired/);
  });
});
