/**
 * The campaign's HTTP client: node:http straight to 127.0.0.1 with an explicit Host header (the
 * gateway tells the API host and artifact origins apart by Host), no keep-alive, a deadline on
 * every request, and an outcome that says exactly how a request ended: a status with a complete
 * body, a status whose body was cut (fewer bytes than Content-Length, or a chunked body that
 * never ended), or no status at all (reset, refused, timed out).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';

export interface Target {
  port: number;
  host: string;
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  /** Whole-request deadline; the request is destroyed and reported 'timeout' after it. */
  timeoutMs?: number;
}

export interface Outcome {
  /** 0 when no status line arrived. */
  status: number;
  headers: IncomingHttpHeaders;
  /** The body (bounded by keepBody; the sha256 covers all of it). */
  body: Buffer;
  bytes: number;
  sha256: string;
  /** A status arrived but the body did not complete. */
  cut: boolean;
  /** No status: 'reset', 'refused', 'timeout' or another error code. */
  error?: string;
  ms: number;
}

export interface SendOptions {
  /** The request body, sent in chunks of `chunkBytes`, each after `pauseMs` (a slow uploader). */
  body?: Buffer;
  chunkBytes?: number;
  pauseMs?: number;
  /** Keep at most this many body bytes in memory (the hash covers everything). */
  keepBody?: number;
}

const errorName = (err: NodeJS.ErrnoException): string =>
  err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? err.message);

export function request(t: Target, o: SendOptions = {}): Promise<Outcome> {
  const start = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
  const keep = o.keepBody ?? 1 << 20;
  return new Promise((resolve) => {
    let done = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let kept = 0;
    let bytes = 0;
    const hash = createHash('sha256');
    const finish = (cut: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, headers, body: Buffer.concat(chunks), bytes, sha256: hash.digest('hex'), cut, error: status ? undefined : error, ms: ms() });
    };
    const headersOut: Record<string, string | number> = { host: t.host, connection: 'close', ...t.headers };
    if (o.body) headersOut['content-length'] = o.body.length;
    const req = http.request({ host: '127.0.0.1', port: t.port, method: t.method ?? 'GET', path: t.path, headers: headersOut, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      finish(status !== 0, 'timeout');
    }, t.timeoutMs ?? 60_000);
    req.on('error', (err: NodeJS.ErrnoException) => finish(status !== 0, errorName(err)));
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
        if (kept < keep) {
          chunks.push(c);
          kept += c.length;
        }
      });
      res.on('aborted', () => finish(true));
      res.on('error', () => finish(true));
      res.on('end', () => {
        const declared = res.headers['content-length'];
        const short = declared !== undefined && Number(declared) !== bytes && (t.method ?? 'GET') !== 'HEAD';
        finish(short || !res.complete);
      });
    });
    if (!o.body) return void req.end();
    const body = o.body;
    const size = o.chunkBytes ?? 64 * 1024;
    let sent = 0;
    const pump = () => {
      if (done || req.destroyed) return;
      while (sent < body.length) {
        const chunk = body.subarray(sent, sent + size);
        sent += chunk.length;
        const more = req.write(chunk);
        if (o.pauseMs) return void setTimeout(pump, o.pauseMs);
        if (!more) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** Deterministic incompressible bytes; each (seed, size) gives other bytes. */
export function bytesOf(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size + ((4 - (size % 4)) % 4));
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    buf.writeUInt32LE(x, i);
  }
  return buf.subarray(0, size);
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Fetches an absolute URL (a presigned S3 or blob URL) on loopback; the body is hashed. */
export function fetchUrl(url: string, timeoutMs = 30_000): Promise<Outcome> {
  const u = new URL(url);
  return request({ port: Number(u.port), host: u.host, path: `${u.pathname}${u.search}`, timeoutMs }, { keepBody: 0 });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function sortNumbers(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Least-squares slope of y over x. */
export function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
