/**
 * The bench's HTTP client: node:http straight to 127.0.0.1 with an explicit Host header (the
 * gateway tells the API host and the artifact origins apart by Host), streamed bodies of any size
 * made from one reused buffer, and downloads that count and drop what they receive.
 */
import { request, type IncomingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Target {
  port: number;
  host: string;
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
}

/** One request with an optional small body; the whole answer in memory (for API calls). */
export function call(t: Target, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: t.port, method: t.method ?? 'GET', path: t.path, headers: { host: t.host, ...t.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A deterministic buffer to repeat as a body (incompressible, not that it matters on loopback). */
export function pattern(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    buf.writeUInt32LE(x, i);
  }
  return buf;
}

/** PUTs `size` bytes (`chunk` repeated) with Content-Length; resolves with the answer and seconds taken. */
export function upload(t: Target, size: number, chunk: Buffer): Promise<Reply & { seconds: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: t.port,
        method: t.method ?? 'PUT',
        path: t.path,
        headers: { host: t.host, 'content-length': size, ...t.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            seconds: Number(process.hrtime.bigint() - start) / 1e9,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** GETs and drops the body; resolves with the status, the bytes received and seconds taken. */
export function download(t: Target): Promise<{ status: number; bytes: number; seconds: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.port, method: 'GET', path: t.path, headers: { host: t.host, ...t.headers }, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export { mapLimit } from '../../src/map-limit';

export function expectStatus(what: string, reply: { status: number; body?: Buffer }, ...ok: number[]): void {
  if (!ok.includes(reply.status)) {
    throw new Error(`${what}: HTTP ${reply.status}${reply.body ? ` ${reply.body.toString('utf8').slice(0, 300)}` : ''}`);
  }
}
