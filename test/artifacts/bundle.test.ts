import { createHash, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import { makeTestApp, type TestApp } from '../support/app';
import { DRIVERS } from '../support/drivers';
import { matchingSpec } from '../support/openapi';
import { listen, raw as rawHttp, rawSocket, type Listening } from '../support/raw-http';
import { makeTar, type TarEntry } from '../support/tar-builder';

// every answer of the API host in this suite must be one docs/openapi.yaml describes
const raw = matchingSpec(rawHttp);

const API = 'localhost:8080';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
let builds = 0;

describe.each(DRIVERS)('bundle uploads on the %s driver', (driver) => {
  let t: TestApp;
  let srv: Listening;
  const tokens = new Map<string, string>();
  const tok = async (build: string) => {
    if (!tokens.has(build)) tokens.set(build, await t.token({ build }));
    return tokens.get(build)!;
  };

  beforeAll(async () => {
    t = await makeTestApp(driver, { ARTIFACT_MAX_BYTES: String(100 * 1024), BUNDLE_MAX_FILES: '300', BUNDLE_MAX_BYTES: String(2 * 1024 * 1024) });
    srv = await listen(t.callback);
  });
  afterAll(async () => {
    await srv.close();
    await t.cleanup();
  });

  const base = (build: string) => `/api/v1/projects/acme%2Fweb/builds/${build}/artifacts`;
  const nextBuild = () => String(++builds);
  const post = async (build: string, body: Buffer, headers: Record<string, string | number> = {}, query = '?bundle=tar') =>
    raw(srv.port, {
      method: 'POST',
      path: `${base(build)}${query}`,
      headers: { host: API, 'content-type': 'application/x-tar', 'content-length': body.length, authorization: `Bearer ${await tok(build)}`, ...headers },
      body,
    });
  const put = async (build: string, path: string, body: string) =>
    raw(srv.port, {
      method: 'PUT',
      path: `${base(build)}/${path}`,
      headers: { host: API, 'content-length': Buffer.byteLength(body), authorization: `Bearer ${await tok(build)}` },
      body,
    });
  const get = async (build: string, path: string) =>
    raw(srv.port, { path: `${base(build)}/${path}`, headers: { host: API, authorization: `Bearer ${await tok(build)}` } });
  const listAll = async (build: string) => {
    const paths: string[] = [];
    let pageToken: string | null = null;
    do {
      const q: string = pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : '';
      const res = await raw(srv.port, { path: `${base(build)}?pageSize=1000${q}`, headers: { host: API, authorization: `Bearer ${await tok(build)}` } });
      expect(res.status).toBe(200);
      paths.push(...res.json().items.map((i: { path: string }) => i.path));
      pageToken = res.json().nextPageToken;
    } while (pageToken);
    return paths.sort();
  };
  /** Entries and bundle records of a build, visible or not: proves what a refused bundle left behind. */
  const buildKeys = async (build: string) => {
    const page = await t.harness.storage.list('artifacts', toKeyPrefix(`p/acme%2Fweb/b/${build}/f/`));
    return page.items.map((i) => i.key);
  };
  const objectCount = async () => (await t.harness.storage.list('artifacts', toKeyPrefix('p/acme%2Fweb/o/'), { limit: 1000 })).items.length;
  const files = (n: number, dir = 'report'): TarEntry[] =>
    Array.from({ length: n }, (_, i) => ({ path: `${dir}/f${String(i).padStart(4, '0')}.txt`, body: `file ${i}\n`.repeat(i % 50) }));

  it('stores every file of the archive as an artifact, with its type and sha256, in one request', async () => {
    const build = nextBuild();
    const entries: TarEntry[] = [
      { path: './report/', type: 'Directory' },
      { path: './report/index.html', body: '<!doctype html><title>r</title>' },
      { path: 'report/data/big.bin', body: Buffer.alloc(90 * 1024, 7) }, // streamed, not buffered
      ...files(200, 'report/data'),
    ];
    const tar = makeTar(entries);
    const res = await post(build, tar);
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({
      files: 202,
      created: 202,
      unchanged: 0,
      bytes: entries.reduce((n, e) => n + Buffer.byteLength(e.body ?? ''), 0),
      sha256: sha(tar),
      url: expect.stringMatching(/^http:\/\/acme-web-[a-z2-7]{16}\.localhost:8080\/\d+\/$/),
    });
    expect(await listAll(build)).toHaveLength(202);
    const listed = await raw(srv.port, { path: `${base(build)}?pageSize=1000`, headers: { host: API, authorization: `Bearer ${await tok(build)}` } });
    const index = listed.json().items.find((i: { path: string }) => i.path === 'report/index.html');
    expect(index).toMatchObject({ contentType: 'text/html; charset=utf-8', sha256: sha('<!doctype html><title>r</title>'), size: 31 });
    const big = listed.json().items.find((i: { path: string }) => i.path === 'report/data/big.bin');
    expect(big).toMatchObject({ size: 90 * 1024, sha256: sha(Buffer.alloc(90 * 1024, 7)) });
    expect((await get(build, 'report/data/f0007.txt')).status).toBe(302);
  });

  it("puts the bundle's build on the project's builds list, counted, with its report", async () => {
    const build = nextBuild();
    const tar = makeTar([
      { path: 'cov/index.html', body: '<!doctype html><title>cov</title>' },
      { path: 'cov/app.js', body: 'console.log(1)' },
    ]);
    expect((await post(build, tar)).status).toBe(201);
    const res = await raw(srv.port, {
      path: '/api/v1/projects/acme%2Fweb/builds?pageSize=100',
      headers: { host: API, authorization: `Bearer ${await tok(build)}` },
    });
    expect(res.status).toBe(200);
    const listed = res.json().items.find((i: { build: string }) => i.build === build);
    expect(listed).toMatchObject({ files: 2, bytes: 33 + 14, countsComplete: true });
    expect(listed.reports.map((r: { path: string }) => r.path)).toEqual(['cov/index.html']);
  });

  /**
   * Sends the first half of `tar` as a bundle of `build`, runs `midway` once the gateway has
   * stored 20 files of it (objects and entries), then the rest; resolves with the answer.
   */
  const postInHalves = async (build: string, tar: Buffer, midway: (answered: () => boolean) => Promise<void>) => {
    const token = await tok(build);
    const half = Math.floor(tar.length / 2);
    const objectsBefore = await objectCount();
    let answered = false;
    return new Promise<{ status: number; json: () => any }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: srv.port,
          method: 'POST',
          path: `${base(build)}?bundle=tar`,
          headers: { host: API, 'content-type': 'application/x-tar', 'content-length': tar.length, authorization: `Bearer ${token}` },
        },
        (res) => {
          answered = true;
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, json: () => JSON.parse(body) }));
        },
      );
      req.on('error', reject);
      req.write(tar.subarray(0, half));
      const then = async () => {
        while ((await objectCount()) < objectsBefore + 20 || (await buildKeys(build)).length < 20) await new Promise((r) => setTimeout(r, 20));
        await midway(() => answered);
        req.end(tar.subarray(half));
      };
      then().catch(reject);
    });
  };

  it('stores files and their entries while the bundle arrives, shows none of them until it is complete, then all', async () => {
    const build = nextBuild();
    const res = await postInHalves(build, makeTar(files(120)), async () => {
      // files of the first half are stored, objects and entries, while the rest is still to
      // come (so the answer need not wait for them), yet none is visible
      expect(await listAll(build)).toEqual([]);
      expect((await get(build, 'report/f0001.txt')).status).toBe(404);
    });
    expect(res.status).toBe(201);
    expect(await listAll(build)).toHaveLength(120);
  });

  it('a build deleted while its bundle arrives refuses the bundle with 409, and leaves none of its files or objects', async () => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const res = await postInHalves(build, makeTar(files(120)), async (answered) => {
      const admin = await t.token({ build: 'admin', scope: 'artifacts:read artifacts:delete' });
      const deleted = await raw(srv.port, {
        method: 'DELETE',
        path: `/api/v1/projects/acme%2Fweb/builds/${build}`,
        headers: { host: API, authorization: `Bearer ${admin}` },
      });
      expect(deleted.status).toBe(200);
      expect(answered()).toBe(false);
    });
    expect(res.status).toBe(409);
    expect(res.json().error.message).toMatch(new RegExp(`build ${build} was deleted`));
    expect((await get(build, 'report/f0001.txt')).status).toBe(404);
    expect(await objectCount()).toBe(objectsBefore);
  });

  it('hides the entries of a bundle whose gateway died before its commit record, and lets a later bundle replace them after an hour', async () => {
    const build = nextBuild();
    // what a gateway that died mid-publish leaves: an entry naming a bundle that has no record
    const entry = {
      path: 'report/f0000.txt',
      object: `p/acme%2Fweb/o/${randomUUID()}`,
      size: 3,
      sha256: sha('old'),
      contentType: 'text/plain; charset=utf-8',
      createdAt: new Date(t.clock.now).toISOString(),
      uploader: { subject: 'x', project: 'acme/web', build, branch: 'main', trusted: false },
      bundle: randomUUID(),
    };
    const key = toStorageKey(`p/acme%2Fweb/b/${build}/f/report/f0000.txt`);
    await t.harness.storage.write('artifacts', key, Readable.from([Buffer.from(JSON.stringify(entry))]), { contentType: 'application/json' });
    expect((await get(build, 'report/f0000.txt')).status).toBe(404);
    expect(await listAll(build)).toEqual([]);
    // while it may still be publishing, its paths are taken
    const early = await post(build, makeTar(files(3)));
    expect(early.status).toBe(409);
    expect(early.json().error.message).toMatch(/report\/f0000\.txt is being written to build \d+ by another bundle upload/);
    t.clock.now += 61 * 60_000;
    tokens.delete(build); // one minted after the clock moved
    try {
      const late = await post(build, makeTar(files(3)));
      expect(late.status).toBe(201);
      expect(late.json()).toMatchObject({ created: 3 });
      expect(await listAll(build)).toEqual(['report/f0000.txt', 'report/f0001.txt', 'report/f0002.txt']);
    } finally {
      t.clock.now -= 61 * 60_000;
      tokens.delete(build);
    }
  });

  it('sent again, counts every file as unchanged (a retried bundle succeeds)', async () => {
    const build = nextBuild();
    const tar = makeTar(files(20));
    expect((await post(build, tar)).status).toBe(201);
    const again = await post(build, tar);
    expect(again.status).toBe(201);
    expect(again.json()).toMatchObject({ files: 20, created: 0, unchanged: 20 });
  });

  it('a file the build holds with other bytes refuses the whole bundle with 409 naming it, and nothing of it is visible', async () => {
    const build = nextBuild();
    expect((await put(build, 'report/f0003.txt', 'other bytes')).status).toBe(201);
    const objectsBefore = await objectCount();
    const res = await post(build, makeTar(files(30)));
    expect(res.status).toBe(409);
    expect(res.json().error.message).toMatch(/report\/f0003\.txt already exists in build \d+ with other content.*nothing of the bundle was stored/);
    expect(await listAll(build)).toEqual(['report/f0003.txt']);
    expect(await buildKeys(build)).toHaveLength(1);
    expect(await objectCount()).toBe(objectsBefore);
  });

  it.each([
    ['a file where the build has a directory', 'report/f0001.txt/x', /report\/f0001\.txt cannot be stored .* it is a directory there/],
    ['a file below a file of the build', 'report', /report\/f\d+\.txt cannot be stored .* report is a file there/],
  ])('%s refuses the whole bundle with 409', async (_what, existing, message) => {
    const build = nextBuild();
    expect((await put(build, existing, 'x')).status).toBe(201);
    const res = await post(build, makeTar(files(5)));
    expect(res.status).toBe(409);
    expect(res.json().error.message).toMatch(message);
    expect(await listAll(build)).toEqual([existing]);
  });

  it.each<[string, TarEntry[], RegExp]>([
    ['a path with ..', [{ path: 'report/../../etc/passwd', body: 'x' }], /climbs out with '\.\.'/],
    ['an absolute path', [{ path: '/etc/passwd', body: 'x' }], /is an absolute path/],
    [
      'a symbolic link',
      [{ path: 'report/link', type: 'SymbolicLink', linkpath: '/etc/passwd' }],
      /"report\/link" is a symbolic link; a bundle holds only files and directories/,
    ],
    [
      'a hard link',
      [
        { path: 'report/a', body: 'x' },
        { path: 'report/b', type: 'Link', linkpath: 'report/a' },
      ],
      /"report\/b" is a hard link/,
    ],
    ['a device', [{ path: 'report/dev', type: 'CharacterDevice' }], /"report\/dev" is a device/],
    ['a FIFO', [{ path: 'report/fifo', type: 'FIFO' }], /"report\/fifo" is a FIFO/],
    [
      'a path twice',
      [
        { path: 'report/a', body: 'x' },
        { path: 'report/a', body: 'y' },
      ],
      /report\/a is in the bundle twice/,
    ],
    [
      'a file and a directory of one name',
      [
        { path: 'report/a', body: 'x' },
        { path: 'report/a/b', body: 'y' },
      ],
      /report\/a is a file in the bundle and also a directory/,
    ],
    [
      'a directory and then a file of its name',
      [
        { path: 'report/a/', type: 'Directory' },
        { path: 'report/a', body: 'y' },
      ],
      /report\/a is a directory in the bundle and also a file/,
    ],
  ])('refuses %s with 400 saying so, and stores nothing', async (_what, bad, message) => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const res = await post(build, makeTar([...files(10), ...bad]));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(message);
    expect(await buildKeys(build)).toEqual([]);
    expect(await objectCount()).toBe(objectsBefore);
  });

  it('refuses an archive of no files with 400', async () => {
    const res = await post(nextBuild(), makeTar([{ path: 'report/', type: 'Directory' }]));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/the bundle holds no files/);
  });

  it('refuses a body that is not a tar archive with 400', async () => {
    const build = nextBuild();
    const res = await post(build, Buffer.from('{"this": "is json, not tar"}'.repeat(40)));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/the body is not a valid tar archive/);
    expect(await buildKeys(build)).toEqual([]);
  });

  it('refuses a gzip-compressed tar with 400 saying so', async () => {
    const build = nextBuild();
    const res = await post(build, gzipSync(makeTar(files(3))));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/gzip-compressed archive; a bundle is an uncompressed tar/);
    expect(await buildKeys(build)).toEqual([]);
  });

  it('refuses a bundle without ?bundle=tar, or of another Content-Type, with 400', async () => {
    const tar = makeTar(files(2));
    const noQuery = await post(nextBuild(), tar, {}, '');
    expect(noQuery.status).toBe(400);
    expect(noQuery.json().error.message).toMatch(/\?bundle=tar/);
    const zip = await post(nextBuild(), tar, { 'content-type': 'application/zip' });
    expect(zip.status).toBe(400);
    expect(zip.json().error.message).toMatch(/a bundle is a tar archive/);
  });

  it('refuses more files than BUNDLE_MAX_FILES with 413, and stores nothing', async () => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const res = await post(build, makeTar(files(301)));
    expect(res.status).toBe(413);
    expect(res.json().error.message).toMatch(/more than 300 files/);
    expect(await buildKeys(build)).toEqual([]);
    expect(await objectCount()).toBe(objectsBefore);
  });

  it('refuses a file over ARTIFACT_MAX_BYTES with 413 naming it, and stores nothing', async () => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const res = await post(build, makeTar([...files(10), { path: 'report/huge.bin', body: Buffer.alloc(100 * 1024 + 1) }]));
    expect(res.status).toBe(413);
    expect(res.json().error.message).toMatch(/report\/huge\.bin is 102401 bytes, over the 102400-byte artifact limit/);
    expect(await buildKeys(build)).toEqual([]);
    expect(await objectCount()).toBe(objectsBefore);
  });

  it('refuses an archive over BUNDLE_MAX_BYTES by its Content-Length, before reading it', async () => {
    const res = await post(nextBuild(), Buffer.alloc(0), { 'content-length': 2 * 1024 * 1024 + 1 });
    expect(res.status).toBe(413);
    expect(res.json().error.message).toMatch(/over the 2097152-byte bundle limit/);
  });

  it('a stream cut halfway leaves nothing visible and nothing stored', async () => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const tar = makeTar(files(250));
    const head = [
      `POST ${base(build)}?bundle=tar HTTP/1.1`,
      `host: ${API}`,
      `authorization: Bearer ${await tok(build)}`,
      'content-type: application/x-tar',
      `content-length: ${tar.length}`,
      '',
      '',
    ].join('\r\n');
    const requests = srv.received;
    await rawSocket(srv.port, Buffer.concat([Buffer.from(head), tar.subarray(0, Math.floor(tar.length * 0.7))]), { destroyAfterWrite: true });
    // the gateway stores files until it notices the hang-up, then cleans up: check once it is done
    await srv.handled(requests + 1);
    expect(await objectCount()).toBe(objectsBefore);
    expect(await buildKeys(build)).toEqual([]);
    expect(await listAll(build)).toEqual([]);
  });

  it('an archive that ends early (truncated tar, honest Content-Length) is refused with 400 and stores nothing', async () => {
    const build = nextBuild();
    const objectsBefore = await objectCount();
    const tar = makeTar(files(50));
    const res = await post(build, tar.subarray(0, tar.length - 1024 - 700));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/the tar archive is truncated/);
    expect(await buildKeys(build)).toEqual([]);
    expect(await objectCount()).toBe(objectsBefore);
  });
});
