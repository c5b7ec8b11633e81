/**
 * The client's one HTTP layer, against a scripted local server: what it retries and what it
 * does not, Retry-After, bodies of declared length opened afresh per attempt, progress rolled
 * back, and the token kept to the gateway's origin.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHttp, HttpFailure, retryAfter, type HttpOptions } from '../../src/client';
import { listen, type Listening } from '../support/raw-http';

interface Seen {
  method: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string };

/** A server answering the n-th request with script[n] (then the last one), recording what it got. */
async function scripted(script: Answer[]): Promise<{ seen: Seen[]; server: Listening; url: URL }> {
  const seen: Seen[] = [];
  const server = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks) });
      const a = script[Math.min(seen.length - 1, script.length - 1)];
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body ?? JSON.stringify({ error: { code: `status_${a.status}`, message: `scripted ${a.status}` } }));
    });
  });
  return { seen, server, url: new URL(`http://127.0.0.1:${server.port}/`) };
}

function http(url: URL, extra: Partial<HttpOptions> = {}) {
  const retries: { what: string; reason: string; delayMs: number }[] = [];
  const onRetry = (what: string, reason: string, delayMs: number) => retries.push({ what, reason, delayMs });
  const client = createHttp({ baseUrl: url, token: 'a.b.c', retries: 2, onRetry, ...extra });
  return { client, retries };
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'agw-http-'));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('the client HTTP layer', () => {
  it('retries 503 and 429, saying why, and resolves with the answer that follows', async () => {
    const { seen, server, url } = await scripted([{ status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, { status: 200, body: '{"ok":true}' }]);
    const { client, retries } = http(url);
    try {
      const r = await client.send('the look-up', { method: 'GET', url, auth: true });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ ok: true });
      expect(seen).toHaveLength(3);
      expect(retries.map((r) => `${r.what}: ${r.reason}`)).toEqual(['the look-up: 503 status_503: scripted 503', 'the look-up: 429 status_429: scripted 429']);
      for (const s of seen) expect(s.headers.authorization).toBe('Bearer a.b.c');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('waits at least what Retry-After asks, as seconds or as an HTTP date', async () => {
    const soon = new Date(Date.now() + 4000).toUTCString();
    const { server, url } = await scripted([
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': soon } },
      { status: 204, body: '' },
    ]);
    const { client, retries } = http(url);
    try {
      expect((await client.send('x', { method: 'GET', url, auth: false })).status).toBe(204);
      expect(retries[0].delayMs).toBeGreaterThanOrEqual(1000);
      // the date was 4 s ahead, in whole seconds, and about 1 s has passed since
      expect(retries[1].delayMs).toBeGreaterThanOrEqual(1500);
    } finally {
      client.close();
      await server.close();
    }
  }, 20_000);

  it('resolves with a 4xx at once: another attempt could not change it', async () => {
    const { seen, server, url } = await scripted([{ status: 404 }]);
    const { client, retries } = http(url);
    try {
      const r = await client.send('x', { method: 'GET', url, auth: false });
      expect(r.status).toBe(404);
      expect(seen).toHaveLength(1);
      expect(retries).toEqual([]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('gives up after its retries with the last reason and the number of attempts', async () => {
    const { seen, server, url } = await scripted([{ status: 502 }]);
    const { client } = http(url, { retries: 1 });
    try {
      await expect(client.send('x', { method: 'GET', url, auth: false })).rejects.toThrow(
        new HttpFailure('502 status_502: scripted 502 (gave up after 2 attempts)'),
      );
      expect(seen).toHaveLength(2);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('retries a server that cannot be reached, naming the error code', async () => {
    const { server, url } = await scripted([{ status: 200 }]);
    await server.close();
    const { client, retries } = http(url, { retries: 1 });
    try {
      await expect(client.send('x', { method: 'GET', url, auth: false })).rejects.toThrow(/ECONNREFUSED.*\(gave up after 2 attempts\)/);
      expect(retries).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('sends a body with its declared length (not chunked), opened afresh for each attempt, and rolls progress back', async () => {
    const { seen, server, url } = await scripted([{ status: 500 }, { status: 201, body: '{}' }]);
    const { client } = http(url);
    let opened = 0;
    let progress = 0;
    const deltas: number[] = [];
    try {
      const r = await client.send('x', {
        method: 'PUT',
        url,
        auth: true,
        sha256: true,
        body: { name: 'payload', open: async () => (opened++, { length: 7, stream: Readable.from([Buffer.from('pay'), Buffer.from('load')]) }) },
        onSent: (d) => {
          progress += d;
          deltas.push(d);
        },
      });
      expect(r.status).toBe(201);
      expect(opened).toBe(2);
      expect(progress).toBe(7);
      expect(deltas).toContain(-7);
      expect(r.sentSha256).toBe(createHash('sha256').update('payload').digest('hex'));
      for (const s of seen) {
        expect(s.headers['content-length']).toBe('7');
        expect(s.headers['transfer-encoding']).toBeUndefined();
        expect(s.body.toString()).toBe('payload');
      }
    } finally {
      client.close();
      await server.close();
    }
  });

  it('fails at once, without a retry, when the body is shorter than it declared (a file that shrank)', async () => {
    const { seen, server, url } = await scripted([{ status: 201, body: '{}' }]);
    const { client, retries } = http(url);
    try {
      const err = await client
        .send('x', {
          method: 'PUT',
          url,
          auth: false,
          body: { name: 'report.bin', open: async () => ({ length: 10, stream: Readable.from([Buffer.from('short')]) }) },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HttpFailure);
      expect((err as HttpFailure).local).toBe(true);
      expect((err as HttpFailure).message).toBe('report.bin changed while it was being uploaded');
      expect(retries).toEqual([]);
      expect(seen.length).toBeLessThanOrEqual(1);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('fails at once when the body cannot be opened', async () => {
    const { server, url } = await scripted([{ status: 201 }]);
    const { client, retries } = http(url);
    try {
      await expect(
        client.send('x', { method: 'PUT', url, auth: false, body: { name: 'gone', open: () => Promise.reject(new Error('cannot read gone: ENOENT')) } }),
      ).rejects.toThrow(new HttpFailure('cannot read gone: ENOENT', true));
      expect(retries).toEqual([]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('saves a 200 body to a file, and retries one that ended short of its length', async () => {
    const { seen, server, url } = await scripted([
      { status: 200, body: 'abc' },
      { status: 200, body: 'abcdef' },
    ]);
    const { client, retries } = http(url);
    const file = join(work, 'download');
    let progress = 0;
    try {
      const r = await client.send('download', { method: 'GET', url, auth: false, saveTo: { path: file, length: 6, onBytes: (d) => (progress += d) } });
      expect(r.saved).toBe(6);
      expect(progress).toBe(6);
      expect(await readFile(file, 'utf8')).toBe('abcdef');
      expect(seen).toHaveLength(2);
      expect(retries.map((r) => r.reason)).toEqual(['got 3 bytes, expected 6']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('refuses to send the token to another origin, before anything is sent', async () => {
    const { seen, server, url } = await scripted([{ status: 200 }]);
    const { client } = http(new URL('http://gateway.example/'));
    try {
      await expect(client.send('x', { method: 'GET', url, auth: true })).rejects.toThrow(/refusing to send the token to http:\/\/127\.0\.0\.1/);
      expect(seen).toHaveLength(0);
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['120', 120_000],
    [' 3 ', 3000],
    ['Thu, 01 Jan 2026 00:00:05 GMT', 5000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined],
    [undefined, undefined],
  ])('reads %j as %j ms', (header, ms) => {
    expect(retryAfter(header, now)).toBe(ms);
  });
});
