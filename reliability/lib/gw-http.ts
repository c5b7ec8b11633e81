/**
 * HTTP as the gateway cases' clients speak it: one connection per request (no keep-alive pool, so
 * no client socket outlives its request and the gateway's socket counts mean what they say),
 * always to 127.0.0.1 with the Host header of the URL (`localhost` may resolve to ::1, where the
 * gateway does not listen; artifact origins are `<label>.localhost:<port>`).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  port: number;
  /** The Host header, e.g. `localhost:8080` or `<label>.localhost:8080`. */
  host: string;
  method: string;
  path: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  timeoutMs?: number;
}

/** One request, body buffered (for small answers: JSON, errors). */
export function request(o: RequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body);
    const headers: Record<string, string | number> = { host: o.host, ...o.headers };
    if (body) headers['content-length'] = body.length;
    const req = http.request({ host: '127.0.0.1', port: o.port, method: o.method, path: o.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`${o.method} ${o.path}: no answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves when a request can take more body ('drain') or is gone ('close'); leaves no listener. */
export function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

export function json<T>(r: Response): T {
  return JSON.parse(r.body.toString('utf8')) as T;
}

/** An absolute URL as connection options: 127.0.0.1, its port, its Host header and path. */
export function target(url: string): { port: number; host: string; path: string } {
  const u = new URL(url);
  return { port: Number(u.port || 80), host: u.host, path: u.pathname + u.search };
}

export interface Fetched {
  status: number;
  size: number;
  sha256: string;
  error?: string;
}

/** GETs an absolute URL and hashes the body as it streams (no redirects followed). */
export function fetchHash(url: string, timeoutMs = 60_000): Promise<Fetched> {
  const t = target(url);
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: t.port, method: 'GET', path: t.path, headers: { host: t.host }, agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, size, sha256: hash.digest('hex') }));
      res.on('error', (err) => resolve({ status: res.statusCode ?? 0, size, sha256: '', error: err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 0, size: 0, sha256: '', error: err.message }));
    req.end();
  });
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export { mapLimit } from '../../src/map-limit';
