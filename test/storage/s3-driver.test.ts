/**
 * What the s3 driver does beyond the shared contract, against the real radosgw of the run: failure
 * when storage is unreachable, bucket creation, large create-only writes, and the radosgw
 * behaviours the driver is built around (pinned, so an upgrade that changes them fails here).
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AlreadyExistsError, BadRequestError, NotFoundError, PayloadTooLargeError, StorageError, StorageUnavailableError } from '../../src/errors';
import { toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import { createS3Client, ensureBuckets } from '../../src/storage/s3/client';
import { S3Storage } from '../../src/storage/s3/driver';
import { multipartEtag } from '../../src/storage/s3/leftovers';
import { MAX_PUT_BYTES, STAGING_PREFIX } from '../../src/storage/s3/write';
import { freePort } from '../support/ports';
import { allKeys, createBuckets, pendingMultipartUploads, quietLogger, removeBuckets, s3ClientFromEnv, uniqueBucketName } from './s3-support';

const MiB = 1024 * 1024;
const PART = 5 * MiB; // the smallest part size S3 allows keeps these tests quick
const key = (s: string) => toStorageKey(s);

/** `size` bytes of `fill`, in 1 MiB chunks; `read` counts what the driver pulled. */
function counted(size: number, fill: number, opts: { failAt?: number; extra?: Buffer } = {}) {
  const state = { read: 0 };
  const stream = new Readable({
    read() {
      if (opts.failAt !== undefined && state.read >= opts.failAt) return void this.destroy(new Error('client went away'));
      if (state.read >= size) {
        if (opts.extra) this.push(opts.extra);
        return void this.push(null);
      }
      const n = Math.min(MiB, size - state.read);
      state.read += n;
      this.push(Buffer.alloc(n, fill));
    },
  });
  return { stream, state };
}

/** Bodies that send all but their last byte, then wait until every one of them got that far. */
function gatedBodies(count: number, size: number): Readable[] {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let waiting = 0;
  return Array.from({ length: count }, (_, i) => {
    let sent = false;
    return new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(Buffer.alloc(size - 1, i + 1));
          if (++waiting === count) setTimeout(release, 200); // let the bytes reach radosgw
          return;
        }
        void gate.then(() => {
          this.push(Buffer.alloc(1, i + 1));
          this.push(null);
        });
      },
    });
  });
}

async function elapsed(fn: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const t0 = Date.now();
  try {
    await fn();
    return { ms: Date.now() - t0, error: undefined };
  } catch (error) {
    return { ms: Date.now() - t0, error };
  }
}

/** An s3 driver on a server that accepts connections and never says a word (a frozen S3). */
async function silentServer(timeouts: { socketTimeoutMs?: number; responseTimeoutMs?: number }) {
  const sockets: Socket[] = [];
  const server = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const client = createS3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: 'k',
    secretAccessKey: 's',
    logger: quietLogger,
    ...timeouts,
  });
  const storage = new S3Storage({ client, timeouts, buckets: { artifacts: 'a', cache: 'c' } });
  return {
    storage,
    sockets,
    close: async () => {
      await storage.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('s3 driver when storage cannot be reached', () => {
  const secret = 'do-not-leak-this-secret-key';
  let storage: S3Storage;

  beforeAll(async () => {
    const port = await freePort(); // nothing listens there
    const client = createS3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'test-access-key',
      secretAccessKey: secret,
      logger: quietLogger,
    });
    storage = new S3Storage({ client, buckets: { artifacts: 'a', cache: 'c' } });
  });
  afterAll(() => storage.close());

  it.each([
    ['ping', () => storage.ping()],
    ['stat', () => storage.stat('artifacts', key('x'))],
    ['read', () => storage.read('artifacts', key('x'))],
    ['write', () => storage.write('artifacts', key('x'), Readable.from([Buffer.from('x')]))],
    ['list', () => storage.list('artifacts', toKeyPrefix(''))],
    ['delete', () => storage.delete('artifacts', key('x'))],
  ])('%s rejects with StorageUnavailableError within 3 s', async (_op, call) => {
    const { ms, error } = await elapsed(call);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(ms).toBeLessThan(3_000);
  });

  it('says which operation failed and why, without the credentials', async () => {
    const { error } = await elapsed(() => storage.stat('artifacts', key('x')));
    expect((error as Error).message).toMatch(/HeadObject s3:\/\/a\/x failed: ECONNREFUSED/);
    expect((error as Error).message).not.toContain(secret);
  });

  it('gives up on a server that accepts connections but never answers after the socket timeout', async () => {
    const { storage: silent, close } = await silentServer({ socketTimeoutMs: 300 });
    try {
      const { ms, error } = await elapsed(() => silent.ping());
      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(ms).toBeLessThan(5_000);
      // reads do not go through the SDK (src/storage/s3/get.ts) but keep the client's socket timeout
      const read = await elapsed(() => silent.read('artifacts', key('x')));
      expect(read.error).toBeInstanceOf(StorageUnavailableError);
      expect((read.error as Error).message).toMatch(/GetObject s3:\/\/a\/x failed: TimeoutError/);
      expect(read.ms).toBeLessThan(5_000);
    } finally {
      await close();
    }
  });
});

describe('s3 driver reads from a frozen server (accepts, never answers)', () => {
  it('gives up after the response timeout, once, with StorageUnavailableError (a 503), well before the idle timeout', async () => {
    const { storage: frozen, sockets, close } = await silentServer({ responseTimeoutMs: 500 });
    try {
      const read = await elapsed(() => frozen.read('artifacts', key('x')));
      expect(read.error).toBeInstanceOf(StorageUnavailableError);
      expect((read.error as Error).message).toMatch(/GetObject s3:\/\/a\/x failed: S3_RESPONSE_TIMEOUT/);
      expect(read.ms).toBeLessThan(5_000); // the socket idle timeout is 30 s, three attempts of it 90 s
      expect(sockets).toHaveLength(1); // not retried
    } finally {
      await close();
    }
  });
});

describe('s3 driver reads from a server that answers errors', () => {
  // reads fetch a presigned URL with node:http (src/storage/s3/get.ts): what the SDK did for errors and
  // retries is checked here against a scripted server
  let server: Server;
  /** `cut`: send the headers and this many bytes of the body, then drop the connection. */
  let answers: Array<{ status: number; body: string; cut?: number }>;
  let requests: Array<{ url: string; range?: string }>;
  let storage: S3Storage;

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      requests.push({ url: req.url!, range: req.headers.range });
      const next = answers.shift() ?? { status: 200, body: 'hello' };
      res.writeHead(next.status, {
        'content-type': next.status === 200 ? 'text/plain' : 'application/xml',
        'content-length': Buffer.byteLength(next.body),
        etag: '"abc"',
        'x-amz-meta-writer': 'w',
      });
      if (next.cut === undefined) {
        res.end(next.body);
      } else {
        res.write(next.body.slice(0, next.cut));
        setTimeout(() => res.socket?.destroy(), 20);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = createS3Client({
      endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'k',
      secretAccessKey: 's',
      logger: quietLogger,
    });
    storage = new S3Storage({ client, buckets: { artifacts: 'a', cache: 'c' } });
  });
  beforeEach(() => {
    answers = [];
    requests = [];
  });
  afterAll(async () => {
    await storage.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const xmlError = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message></Error>`;

  it('sends a signed GET with the range, and reads size, type, etag and metadata from the answer', async () => {
    const read = await storage.read('artifacts', key('dir/x y.txt'));
    expect(await buffer(read.body)).toEqual(Buffer.from('hello'));
    expect(read.info).toMatchObject({ size: 5, etag: '"abc"', contentType: 'text/plain', metadata: { writer: 'w' } });
    expect(requests[0].url).toMatch(/^\/a\/dir\/x%20y\.txt\?X-Amz-Algorithm=AWS4-HMAC-SHA256&.*X-Amz-Signature=[0-9a-f]{64}/);
    expect(requests[0].range).toBeUndefined();
    await buffer((await storage.read('artifacts', key('x'), { range: { start: 2 } })).body);
    expect(requests[1].range).toBe('bytes=2-');
  });

  it('retries a 503 and succeeds on the third attempt', async () => {
    answers = [
      { status: 503, body: xmlError('SlowDown') },
      { status: 500, body: xmlError('InternalError') },
    ];
    const read = await storage.read('artifacts', key('x'));
    expect(await buffer(read.body)).toEqual(Buffer.from('hello'));
    expect(requests).toHaveLength(3);
  });

  it('gives up after three attempts with StorageUnavailableError naming the S3 code', async () => {
    answers = [1, 2, 3].map(() => ({ status: 503, body: xmlError('SlowDown') }));
    const { error } = await elapsed(() => storage.read('artifacts', key('x')));
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as Error).message).toBe('S3 GetObject s3://a/x failed: SlowDown (HTTP 503)');
    expect(requests).toHaveLength(3);
  });

  it('fails the reader of a body cut part-way with StorageUnavailableError (a 503), not a raw socket error', async () => {
    answers = [{ status: 200, body: 'x'.repeat(100_000), cut: 1000 }];
    const read = await storage.read('artifacts', key('x'));
    const { error } = await elapsed(() => buffer(read.body));
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as Error).message).toMatch(/^S3 GetObject s3:\/\/a\/x failed: ECONNRESET/);
  });

  it.each([
    [404, 'NoSuchKey', NotFoundError, 's3://a/x does not exist'],
    [403, 'AccessDenied', StorageError, 'S3 GetObject s3://a/x failed: AccessDenied (HTTP 403)'],
    [404, 'NoSuchBucket', StorageError, 'S3 GetObject s3://a/x failed: NoSuchBucket (HTTP 404)'],
  ])('maps a %i %s to %p at once, without retrying', async (status, code, type, message) => {
    answers = [{ status, body: xmlError(code) }];
    const { error } = await elapsed(() => storage.read('artifacts', key('x')));
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toBe(message);
    expect(requests).toHaveLength(1);
  });
});

describe('s3 driver on a real radosgw', () => {
  let client: S3Client;
  let buckets: string[];
  let bucket: string; // the artifacts bucket
  let storage: S3Storage;
  let n = 0;
  let base: string;

  beforeAll(async () => {
    client = s3ClientFromEnv();
    buckets = await createBuckets(client, 'artifacts', 'cache');
    bucket = buckets[0]!;
    storage = new S3Storage({ client, buckets: { artifacts: bucket, cache: buckets[1] }, partSize: PART });
  });
  afterAll(async () => {
    try {
      await removeBuckets(client, buckets);
    } finally {
      await storage.close();
    }
  });
  beforeEach(() => {
    base = `d${++n}`;
  });

  describe('ensureBuckets', () => {
    it('creates the buckets that are absent and is idempotent', async () => {
      const names = [uniqueBucketName('ensure'), uniqueBucketName('ensure')];
      try {
        await ensureBuckets(client, names.slice(0, 1));
        await ensureBuckets(client, names);
        await ensureBuckets(client, names);
        for (const name of names) await expect(client.send(new HeadBucketCommand({ Bucket: name }))).resolves.toBeDefined();
      } finally {
        await removeBuckets(client, names);
      }
    });
  });

  describe('what radosgw 16.2 does, that the driver is built around', () => {
    async function multipartOver(k: string, ifNoneMatch: boolean): Promise<string | undefined> {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: k }));
      const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: k, UploadId, PartNumber: 1, Body: Buffer.from('multipart') }));
      const out = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: k,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
          IfNoneMatch: ifNoneMatch ? '*' : undefined,
        }),
      );
      return out.ETag;
    }
    const text = async (k: string) => (await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body!.transformToString();

    it('ignores If-None-Match on CompleteMultipartUpload and overwrites (hence no multipart for create-only)', async () => {
      const k = `${base}/mp`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'first' }));
      await multipartOver(k, true);
      expect(await text(k)).toBe('multipart');
    });

    it('ignores If-None-Match on the destination of CopyObject (so a copy cannot publish a staged body)', async () => {
      const k = `${base}/copy`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'first' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${base}/src`, Body: 'copied' }));
      const copy = new CopyObjectCommand({ Bucket: bucket, Key: k, CopySource: `${bucket}/${base}/src` });
      copy.middlewareStack.add(
        (next) => (args) => {
          (args.request as { headers: Record<string, string> }).headers['if-none-match'] = '*';
          return next(args);
        },
        { step: 'build', name: 'ifNoneMatchOnCopy' },
      );
      await client.send(copy);
      expect(await text(k)).toBe('copied');
    });

    it('answers CompleteMultipartUpload with an empty ETag (hence the HeadObject after a multipart write)', async () => {
      expect(await multipartOver(`${base}/etag`, false)).toBe('');
    });

    it('checks If-None-Match on PutObject only after reading the whole body (hence the early check)', async () => {
      const k = `${base}/late`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: 'first' }));
      const body = counted(16 * MiB, 1);
      const put = new PutObjectCommand({
        Bucket: bucket,
        Key: k,
        Body: body.stream,
        ContentLength: 16 * MiB,
        IfNoneMatch: '*',
      });
      await expect(client.send(put)).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
      expect(body.state.read).toBe(16 * MiB);
    });

    it('answers 416 to any range of an empty object, and no 416 carries the object size', async () => {
      const k = `${base}/empty`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: Buffer.alloc(0), ContentLength: 0 }));
      const get = new GetObjectCommand({ Bucket: bucket, Key: k, Range: 'bytes=0-' });
      const err = await client.send(get).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'InvalidRange', $metadata: { httpStatusCode: 416 } });
      expect(err).not.toHaveProperty('ActualObjectSize');
    });
  });

  describe('create-only writes of bodies larger than a part', () => {
    it('lets exactly one of 8 streamed writers of declared length win, with overlapping completions', async () => {
      const k = key(`${base}/race`);
      const size = PART + MiB;
      const results = await Promise.allSettled(gatedBodies(8, size).map((b) => storage.write('cache', k, b, { ifNoneMatch: true, contentLength: size })));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      const stored = await buffer((await storage.read('cache', k)).body);
      expect(stored.length).toBe(size);
      expect(stored.every((b) => b === won[0] + 1)).toBe(true);
    });

    it('lets exactly one of 3 writers of unknown length win (staged, then published by one conditional PUT)', async () => {
      const k = key(`${base}/staged`);
      const size = 2 * PART + 123;
      const results = await Promise.allSettled(
        [1, 2, 3].map((fill) => storage.write('artifacts', k, counted(size, fill).stream, { ifNoneMatch: true, contentType: 'application/x-tar' })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i + 1] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      const read = await storage.read('artifacts', k);
      expect(read.info.contentType).toBe('application/x-tar');
      const stored = await buffer(read.body);
      expect(stored.length).toBe(size);
      expect(stored.every((b) => b === won[0])).toBe(true);
      const written = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ etag: string }>;
      expect(written.value.etag).toBe(read.info.etag);
      // the staging objects and their multipart uploads are gone
      expect((await allKeys(client, bucket)).filter((x) => x.startsWith(STAGING_PREFIX))).toEqual([]);
      expect(await pendingMultipartUploads(client, bucket)).toEqual([]);
    });

    it('refuses a body of declared length when the key exists before reading it', async () => {
      const k = key(`${base}/exists`);
      await storage.write('cache', k, Readable.from([Buffer.from('first')]));
      const body = counted(64 * MiB, 1);
      const write = storage.write('cache', k, body.stream, { ifNoneMatch: true, contentLength: 64 * MiB });
      await expect(write).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(body.state.read).toBeLessThan(PART);
    });

    it(`refuses create-only bodies declared larger than one PutObject (${MAX_PUT_BYTES} bytes)`, async () => {
      const body = counted(MAX_PUT_BYTES + 1, 1);
      await expect(storage.write('cache', key(`${base}/huge`), body.stream, { ifNoneMatch: true, contentLength: MAX_PUT_BYTES + 1 })).rejects.toBeInstanceOf(
        PayloadTooLargeError,
      );
      expect(body.state.read).toBe(0);
    });

    it('a streamed body that fails halfway rejects at once (not after the socket timeout) and leaves nothing', async () => {
      const k = key(`${base}/cut`);
      const size = 3 * PART;
      const { ms, error } = await elapsed(() =>
        storage.write('cache', k, counted(size, 1, { failAt: 2 * PART }).stream, {
          ifNoneMatch: true,
          contentLength: size,
        }),
      );
      expect((error as Error).message).toBe('client went away');
      expect(ms).toBeLessThan(5_000);
      expect(await storage.stat('cache', k)).toBeNull();
    });
  });

  describe('memory', () => {
    // unbounded buffering would hold the whole body; bounded, about (queueSize + 1) parts plus
    // what the garbage collector has not freed yet (measured: 30-90 MiB for a 512 MiB body)
    it.each([
      ['a multipart write', {}],
      ['a streamed plain write of declared length', { contentLength: 256 * MiB }],
      ['a streamed create-only write of declared length', { ifNoneMatch: true, contentLength: 256 * MiB }],
      ['a staged create-only write of unknown length', { ifNoneMatch: true }],
    ])('%s of 256 MiB holds less than 160 MiB of buffers at any time', async (_what, options) => {
      const start = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - start)), 5);
      try {
        await storage.write('artifacts', key(`${base}/big`), counted(256 * MiB, 7).stream, options);
      } finally {
        clearInterval(sampler);
        await storage.delete('artifacts', key(`${base}/big`)); // radosgw's memstore is RAM
      }
      expect(peak).toBeLessThan(160 * MiB);
    });
  });

  describe('declared lengths', () => {
    it.each([
      ['buffered (one part)', 3, [Buffer.from('abc'), Buffer.from('d')]],
      ['streamed (create-only, past a part)', PART + 1, [Buffer.alloc(PART + 1, 1), Buffer.from('d')]],
    ])('refuses a %s body whose extra bytes come late, after the declared length', async (_what, declared, chunks) => {
      const k = key(`${base}/exact`);
      // late enough for radosgw to have stored the declared bytes, had they all been sent
      const late = Readable.from(
        (async function* () {
          yield chunks[0];
          await new Promise((resolve) => setTimeout(resolve, 500));
          yield chunks[1];
        })(),
      );
      await expect(storage.write('cache', k, late, { ifNoneMatch: true, contentLength: declared })).rejects.toBeInstanceOf(BadRequestError);
      expect(await storage.stat('cache', k)).toBeNull();
    });

    it('a multipart write that fails leaves no unfinished multipart upload behind', async () => {
      const k = key(`${base}/mp-cut`);
      await expect(storage.write('artifacts', k, counted(3 * PART, 1, { failAt: 2 * PART + MiB }).stream)).rejects.toThrow('client went away');
      expect(await pendingMultipartUploads(client, bucket)).toEqual([]);
    });

    it('returns the multipart ETag that stat reports, quoted, for a body of unknown length', async () => {
      const k = key(`${base}/mp`);
      const written = await storage.write('artifacts', k, counted(2 * PART + 1, 1).stream);
      expect(written.etag).toMatch(/^"[0-9a-f]{32}-3"$/);
      expect(written.etag).toBe((await storage.stat('artifacts', k))!.etag);
    });

    it('streams a plain body of declared length past a part in one PutObject', async () => {
      const k = key(`${base}/one-put`);
      const size = 2 * PART + 1;
      const written = await storage.write('artifacts', k, counted(size, 4).stream, { contentLength: size, contentType: 'text/html' });
      // one PutObject's ETag is the body's MD5; a multipart upload's ends in -<parts>
      expect(written.etag).toBe(`"${createHash('md5').update(Buffer.alloc(size, 4)).digest('hex')}"`);
      const read = await storage.read('artifacts', k);
      expect(read.info).toMatchObject({ size, etag: written.etag, contentType: 'text/html' });
      read.body.destroy();
    });

    it('a plain streamed write that fails halfway rejects at once and leaves nothing, not even a multipart upload', async () => {
      const k = key(`${base}/plain-cut`);
      const size = 3 * PART;
      const { ms, error } = await elapsed(() => storage.write('artifacts', k, counted(size, 1, { failAt: 2 * PART }).stream, { contentLength: size }));
      expect((error as Error).message).toBe('client went away');
      expect(ms).toBeLessThan(5_000);
      expect(await storage.stat('artifacts', k)).toBeNull();
      expect(await pendingMultipartUploads(client, bucket)).toEqual([]);
    });
  });

  describe('reads and listing', () => {
    it('serves any range of an empty object as the empty body', async () => {
      const k = key(`${base}/empty`);
      await storage.write('artifacts', k, Readable.from([]), { contentLength: 0 });
      const r = await storage.read('artifacts', k, { range: { start: 0 } });
      expect(r.info.size).toBe(0);
      expect(r.range).toBeUndefined();
      expect((await buffer(r.body)).length).toBe(0);
    });

    it.each([[{ start: 5, end: 2 }], [{ start: -1 }], [{ start: 1.5 }]])('refuses the malformed range %j', async (r) => {
      await expect(storage.read('artifacts', key(`${base}/x`), { range: r })).rejects.toBeInstanceOf(BadRequestError);
    });

    it('rejects a read whose signal is already aborted with the AbortError, not a storage error', async () => {
      const read = storage.read('artifacts', key(`${base}/x`), { signal: AbortSignal.abort() });
      const err = await read.catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError' });
      expect(err).not.toBeInstanceOf(StorageError);
    });

    it('does not list keys the gateway cannot address (such as a leftover staging object)', async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${STAGING_PREFIX}left-over`, Body: 'x' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${base}/a\\b`, Body: 'x' }));
      await storage.write('artifacts', key(`${base}/ok`), Readable.from([Buffer.from('x')]));
      const keysIn = async (p: string) => (await storage.list('artifacts', toKeyPrefix(p))).items.map((i) => i.key);
      expect(await keysIn('')).not.toContain(`${STAGING_PREFIX}left-over`);
      expect(await keysIn(`${base}/`)).toEqual([`${base}/ok`]);
    });
  });

  describe('completeMultipartUpload retried after a lost answer', () => {
    it("knows the ETag radosgw gives an object completed from given parts (how a retry's NoSuchUpload is told from a real one)", async () => {
      const k = key(`${base}/mp-retried.bin`);
      const uploadId = await storage.createMultipartUpload('cache', k);
      const etags: string[] = [];
      for (const [i, size] of [PART, 1234].entries()) {
        const url = await storage.presignUploadPart('cache', k, uploadId, i + 1, { expiresIn: 60 });
        const res = await fetch(url, { method: 'PUT', body: Buffer.alloc(size, i + 1) });
        etags.push(res.headers.get('etag')!);
      }
      const parts = etags.map((etag, i) => ({ partNumber: i + 1, etag }));
      const done = await storage.completeMultipartUpload('cache', k, uploadId, parts);
      expect(done.etag).toBe(`"${multipartEtag(parts)}"`);
      expect(multipartEtag(parts.slice(0, 1))).not.toBe(multipartEtag(parts));
      // radosgw repeats a completion that succeeded (the other way a retry can end), also after an abort
      await client.send(new AbortMultipartUploadCommand({ Bucket: buckets[1], Key: k, UploadId: uploadId })).catch(() => undefined);
      expect(await storage.completeMultipartUpload('cache', k, uploadId, parts)).toEqual(done);
    });
  });

  describe('removeAbandonedWrites', () => {
    const uploadsIn = async (b: string) => ((await client.send(new ListMultipartUploadsCommand({ Bucket: b }))).Uploads ?? []).map((u) => u.Key);

    it('removes staging objects and multipart uploads a crash left, in both buckets, but none started after the cutoff', async () => {
      const staged = `${STAGING_PREFIX}${base}-crashed`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: staged, Body: 'half a write' }));
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: buckets[1], Key: `${base}/cut-off` }));
      await client.send(new UploadPartCommand({ Bucket: buckets[1], Key: `${base}/cut-off`, UploadId, PartNumber: 1, Body: Buffer.alloc(1024) }));
      await storage.write('artifacts', key(`${base}/kept`), Readable.from([Buffer.from('kept')]));

      // started after the cutoff: a write that may still be in flight
      expect(await storage.removeAbandonedWrites(new Date(Date.now() - 3_600_000))).toEqual({ count: 0, bytes: 0 });
      expect(await uploadsIn(buckets[1])).toContain(`${base}/cut-off`);

      const removed = await storage.removeAbandonedWrites(new Date(Date.now() + 60_000));
      expect(removed.count).toBeGreaterThanOrEqual(2);
      expect(removed.bytes).toBeGreaterThanOrEqual('half a write'.length);
      expect(await uploadsIn(buckets[1])).not.toContain(`${base}/cut-off`);
      expect((await allKeys(client, bucket)).filter((x) => x.startsWith(STAGING_PREFIX))).toEqual([]);
      expect(await storage.stat('artifacts', key(`${base}/kept`))).not.toBeNull();
    });
  });
});
