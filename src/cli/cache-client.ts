/**
 * The caches API as `cache save` and `cache restore` use it: look-up, streamed save, the direct
 * upload flow (reserve, presigned part PUTs, commit, abort), and the download of a presigned URL.
 *
 * The rules are upload-client's: node:http(s) rather than fetch (fetch sends a stream chunked,
 * and the gateway wants Content-Length before it reads a byte); network errors, 429 and 5xx are
 * retried with exponential backoff and jitter, other answers are answers. The token goes to the
 * gateway's origin only: presigned URLs are requested without it, and never printed (they are
 * credentials too, for PRESIGN_TTL seconds).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PublicCacheEntry } from '../caches/store';
import { readBody, retryAfter } from './upload-client';

/** An entry as the API answers it: the server's own type, so the two cannot drift apart. */
export type CacheEntry = PublicCacheEntry;

export interface CacheHit extends CacheEntry {
  /** Presigned GET of the archive; may be on another host. */
  url: string;
}

/** The entry the gateway now holds under the key: ours, or an earlier one (write-once). */
export type Saved = { kind: 'created'; entry: CacheEntry } | { kind: 'exists'; entry: CacheEntry | undefined; message: string };

export interface Reservation {
  uploadId: string;
  partSize: number;
  parts: { partNumber: number; url: string }[];
}

export class CacheFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheFailure';
  }
}

export interface CacheClientOptions {
  baseUrl: URL;
  token: string;
  project: string;
  retries: number;
  onRetry(what: string, reason: string, delayMs: number): void;
}

interface Request {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  url: URL;
  /** Sends the job token: only ever to the gateway's own origin. */
  auth: boolean;
  json?: unknown;
  /** A byte range of a file as the body, with its length declared. */
  file?: { path: string; start: number; length: number; onBytes?(delta: number): void };
  /** A 200 answer's body goes to this file (truncated first) instead of memory. */
  saveTo?: { path: string; onBytes?(delta: number): void };
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  json: unknown;
  /** Bytes written to `saveTo`. */
  saved: number;
}

type Attempt = { response: Response } | { retry: string; retryAfterMs?: number };

const REQUEST_IDLE_MS = 120_000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;

export function createCacheClient(options: CacheClientOptions) {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const base = options.baseUrl.href.replace(/\/+$/, '');
  const caches = `${base}/api/v1/projects/${encodeURIComponent(options.project)}/caches`;
  const keyUrl = (key: string, rest = '') => new URL(`${caches}/${encodeURIComponent(key)}${rest}`);

  function attempt(req: Request): Promise<Attempt> {
    if (req.auth && req.url.origin !== options.baseUrl.origin) throw new Error(`refusing to send the token to ${req.url.origin}`);
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let sent = 0;
      let received = 0;
      const settle = (a: Attempt) => {
        if (settled) return;
        settled = true;
        // progress rolls back what a failed attempt moved, since the next one starts over
        if ('retry' in a) {
          req.file?.onBytes?.(-sent);
          req.saveTo?.onBytes?.(-received);
        }
        resolve(a);
      };
      const headers: Record<string, string> = {};
      if (req.auth) headers.authorization = `Bearer ${options.token}`;
      const json = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
      if (json) headers['content-type'] = 'application/json';
      if (req.method !== 'GET') headers['content-length'] = String(json?.length ?? req.file?.length ?? 0);
      const https = req.url.protocol === 'https:';
      const r = (https ? httpsRequest : httpRequest)(req.url, { method: req.method, agent: https ? agents.https : agents.http, headers });
      r.setTimeout(REQUEST_IDLE_MS, () => r.destroy(new Error(`no progress for ${REQUEST_IDLE_MS / 1000} s`)));
      r.on('error', (err) => settle({ retry: describeNetworkError(err) }));
      r.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const to = req.saveTo;
        const body = to && status === 200 ? saveBody(res, to.path, (d) => ((received += d), to.onBytes?.(d))) : readJson(res);
        body.then(
          ({ json, saved }) => {
            // an early answer (a refused token, a conflict) while the body is still going out
            if (!r.writableFinished) r.destroy();
            if (status === 429 || status >= 500) settle({ retry: describeStatus(status, json, res), retryAfterMs: retryAfter(res.headers['retry-after']) });
            else settle({ response: { status, headers: res.headers, json, saved } });
          },
          (err: Error) => settle({ retry: describeNetworkError(err) }),
        );
      });
      if (req.file && req.file.length > 0) {
        const { path, start, length, onBytes } = req.file;
        const count = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            sent += chunk.length;
            onBytes?.(chunk.length);
            cb(null, chunk);
          },
        });
        pipeline(createReadStream(path, { start, end: start + length - 1 }), count, r).catch(() => undefined); // reported through r's 'error'
      } else r.end(json);
    });
  }

  async function call(what: string, req: Request, retries = options.retries): Promise<Response> {
    for (let n = 0; ; n++) {
      const a = await attempt(req);
      if ('response' in a) return a.response;
      if (n >= retries) throw new CacheFailure(`${what}: ${a.retry}${retries > 0 ? ` (gave up after ${n + 1} attempts)` : ''}`);
      // exponential with jitter, so that many clients failing together do not retry together
      const backoff = Math.min(FIRST_DELAY_MS * 2 ** n, MAX_DELAY_MS) * (0.5 + Math.random() / 2);
      const delay = Math.max(backoff, Math.min(a.retryAfterMs ?? 0, MAX_DELAY_MS * 2));
      options.onRetry(what, a.retry, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  function saved(what: string, r: Response, sha256?: string): Saved {
    if ((r.status === 200 || r.status === 201) && isEntry(r.json)) {
      // the gateway hashed what it stored: a difference means the bytes were damaged on the way
      if (sha256 !== undefined && r.json.sha256 !== sha256) {
        throw new CacheFailure(`${what}: the gateway stored sha256 ${r.json.sha256}, but the archive sent has ${sha256}`);
      }
      return { kind: 'created', entry: r.json };
    }
    if (r.status === 409) {
      const error = (r.json as { error?: { message?: unknown; existing?: unknown } } | undefined)?.error;
      return {
        kind: 'exists',
        entry: isEntry(error?.existing) ? error.existing : undefined,
        message: typeof error?.message === 'string' ? error.message : 'the key already exists',
      };
    }
    throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json)}`);
  }

  return {
    /** The entry for the first key exactly, else for a key starting with one of them; null on a miss. */
    async lookup(keys: readonly string[]): Promise<CacheHit | null> {
      const r = await call('cache look-up', { method: 'GET', url: new URL(`${caches}?keys=${keys.map(encodeURIComponent).join(',')}`), auth: true });
      if (r.status === 204) return null;
      if (r.status === 200 && isEntry(r.json) && typeof (r.json as Partial<CacheHit>).url === 'string') return r.json as CacheHit;
      throw new CacheFailure(`cache look-up: ${describeStatus(r.status, r.json)}`);
    },

    /** Streams the archive through the gateway, with what it expands to. */
    async put(key: string, file: string, size: number, sha256: string, expandedSize: number, onBytes: (delta: number) => void): Promise<Saved> {
      const url = keyUrl(key, `?expandedSize=${expandedSize}`);
      const r = await call('upload', { method: 'PUT', url, auth: true, file: { path: file, start: 0, length: size, onBytes } });
      return saved('upload', r, sha256);
    },

    /** Starts a direct upload; `exists` when the key is already taken. */
    async reserve(key: string, size: number, sha256: string, expandedSize: number): Promise<Reservation | Saved> {
      const r = await call('reserving a direct upload', { method: 'POST', url: keyUrl(key, '/uploads'), auth: true, json: { size, sha256, expandedSize } });
      if (r.status === 409) return saved('reserving a direct upload', r);
      if (r.status === 201 && isReservation(r.json)) return r.json;
      throw new CacheFailure(`reserving a direct upload: ${describeStatus(r.status, r.json)}`);
    },

    /** PUTs one part to its presigned URL (without the token); returns the part's ETag. */
    async putPart(url: string, partNumber: number, file: string, start: number, length: number, onBytes: (delta: number) => void): Promise<string> {
      const what = `part ${partNumber}`;
      const r = await call(what, { method: 'PUT', url: presigned(url), auth: false, file: { path: file, start, length, onBytes } });
      if (r.status < 200 || r.status > 299) throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json)}`);
      const etag = r.headers.etag;
      if (typeof etag !== 'string' || etag === '') throw new CacheFailure(`${what}: the storage answered without an ETag`);
      return etag;
    },

    async commit(key: string, uploadId: string, parts: { partNumber: number; etag: string }[], sha256: string): Promise<Saved> {
      const r = await call('committing the upload', { method: 'POST', url: keyUrl(key, `/uploads/${encodeURIComponent(uploadId)}/commit`), auth: true, json: { parts } });
      return saved('committing the upload', r, sha256);
    },

    /** Best effort: the gateway's garbage collection removes what this does not. */
    async abort(key: string, uploadId: string): Promise<void> {
      await call('aborting the upload', { method: 'DELETE', url: keyUrl(key, `/uploads/${encodeURIComponent(uploadId)}`), auth: true }, 0).catch(() => undefined);
    },

    /** Downloads a presigned URL (without the token) to `file`, which must get exactly `size` bytes. */
    async download(url: string, file: string, size: number, onBytes: (delta: number) => void): Promise<void> {
      const target = presigned(url);
      for (let n = 0; ; n++) {
        const r = await call('download', { method: 'GET', url: target, auth: false, saveTo: { path: file, onBytes } });
        if (r.status !== 200) throw new CacheFailure(`download from ${target.host}: ${describeStatus(r.status, r.json)}`);
        if (r.saved === size) return;
        // a body of the wrong length that ended without an error: retried like a network error
        onBytes(-r.saved);
        if (n >= options.retries) throw new CacheFailure(`download from ${target.host}: got ${r.saved} bytes, the entry has ${size}`);
        options.onRetry('download', `got ${r.saved} bytes, the entry has ${size}`, 0);
      }
    },

    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };

  /** A URL from the gateway's answer, relative ones resolved against the gateway. */
  function presigned(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw, `${base}/`);
    } catch {
      throw new CacheFailure('the gateway answered with a malformed URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CacheFailure(`the gateway answered with a URL of scheme ${url.protocol}`);
    return url;
  }
}

export type CacheClient = ReturnType<typeof createCacheClient>;

function isEntry(v: unknown): v is CacheEntry {
  const o = v as Partial<CacheEntry> | undefined;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.key === 'string' &&
    typeof o.size === 'number' &&
    typeof o.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(o.sha256) &&
    typeof o.createdBy === 'object' &&
    o.createdBy !== null &&
    (o.expandedSize === undefined || (Number.isSafeInteger(o.expandedSize) && o.expandedSize >= 0))
  );
}

function isReservation(v: unknown): v is Reservation {
  const o = v as Partial<Reservation> | undefined;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.uploadId === 'string' &&
    Number.isSafeInteger(o.partSize) &&
    (o.partSize ?? 0) > 0 &&
    Array.isArray(o.parts) &&
    o.parts.every((p) => Number.isSafeInteger(p?.partNumber) && typeof p?.url === 'string')
  );
}

function describeStatus(status: number, json: unknown, res?: IncomingMessage): string {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') return `${status} ${typeof error.code === 'string' ? `${error.code}: ` : ''}${error.message}`;
  return `${status} ${res?.statusMessage ?? ''}`.trim() + (status >= 200 && status < 300 ? ' (not the expected answer)' : '');
}

async function readJson(res: IncomingMessage): Promise<{ json: unknown; saved: number }> {
  const body = await readBody(res);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { json, saved: 0 };
}

async function saveBody(res: IncomingMessage, path: string, onBytes: (delta: number) => void): Promise<{ json: unknown; saved: number }> {
  let saved = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      saved += chunk.length;
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  await pipeline(res, count, createWriteStream(path, { flags: 'w', mode: 0o600 }));
  return { json: undefined, saved };
}

function describeNetworkError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
