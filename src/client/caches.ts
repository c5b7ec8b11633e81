/**
 * The caches API as a program uses it: look-up, streamed save, the direct upload flow (reserve,
 * presigned part PUTs, commit, abort), and the download of a presigned URL, all through the one
 * HTTP layer (http.ts: retries, timeouts). The token goes to the gateway's origin only: presigned
 * URLs are requested without it, and never printed (they are credentials too, for PRESIGN_TTL
 * seconds). Every failure is a CacheFailure whose message starts with what was being done.
 */
import { createReadStream } from 'node:fs';
import type { PublicCacheEntry } from '../caches/store';
import { createHttp, describeStatus, HttpFailure, type HttpRequest, type HttpResponse } from './http';

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
  /** Retries per request after the first attempt (default 3). */
  retries?: number;
  onRetry?(what: string, reason: string, delayMs: number): void;
}

export function createCacheClient(options: CacheClientOptions) {
  const http = createHttp({ baseUrl: options.baseUrl, token: options.token, retries: options.retries ?? 3, onRetry: options.onRetry });
  const base = options.baseUrl.href.replace(/\/+$/, '');
  const caches = `${base}/api/v1/projects/${encodeURIComponent(options.project)}/caches`;
  const keyUrl = (key: string, rest = '') => new URL(`${caches}/${encodeURIComponent(key)}${rest}`);

  async function call(what: string, req: HttpRequest, retries?: number): Promise<HttpResponse> {
    try {
      return await http.send(what, req, retries);
    } catch (err) {
      if (err instanceof HttpFailure) throw new CacheFailure(`${what}: ${err.message}`);
      throw err;
    }
  }

  /** A byte range of a file as a request body. */
  const fileRange = (path: string, start: number, length: number) => ({
    name: path,
    open: async () => ({ length, stream: length > 0 ? createReadStream(path, { start, end: start + length - 1 }) : undefined }),
  });

  function saved(what: string, r: HttpResponse, sha256?: string): Saved {
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
    throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json, r.statusMessage)}`);
  }

  return {
    /** The entry for the first key exactly, else for a key starting with one of them; null on a miss. */
    async lookup(keys: readonly string[]): Promise<CacheHit | null> {
      const r = await call('cache look-up', { method: 'GET', url: new URL(`${caches}?keys=${keys.map(encodeURIComponent).join(',')}`), auth: true });
      if (r.status === 204) return null;
      if (r.status === 200 && isEntry(r.json) && typeof (r.json as Partial<CacheHit>).url === 'string') return r.json as CacheHit;
      throw new CacheFailure(`cache look-up: ${describeStatus(r.status, r.json, r.statusMessage)}`);
    },

    /** Streams the archive through the gateway, with what it expands to. */
    async put(key: string, file: string, size: number, sha256: string, expandedSize: number, onBytes: (delta: number) => void): Promise<Saved> {
      const url = keyUrl(key, `?expandedSize=${expandedSize}`);
      const r = await call('upload', { method: 'PUT', url, auth: true, body: fileRange(file, 0, size), onSent: onBytes });
      return saved('upload', r, sha256);
    },

    /** Starts a direct upload; `exists` when the key is already taken. */
    async reserve(key: string, size: number, sha256: string, expandedSize: number): Promise<Reservation | Saved> {
      const r = await call('reserving a direct upload', { method: 'POST', url: keyUrl(key, '/uploads'), auth: true, json: { size, sha256, expandedSize } });
      if (r.status === 409) return saved('reserving a direct upload', r);
      if (r.status === 201 && isReservation(r.json)) return r.json;
      throw new CacheFailure(`reserving a direct upload: ${describeStatus(r.status, r.json, r.statusMessage)}`);
    },

    /** PUTs one part to its presigned URL (without the token); returns the part's ETag. */
    async putPart(url: string, partNumber: number, file: string, start: number, length: number, onBytes: (delta: number) => void): Promise<string> {
      const what = `part ${partNumber}`;
      const r = await call(what, { method: 'PUT', url: presigned(url), auth: false, body: fileRange(file, start, length), onSent: onBytes });
      if (r.status < 200 || r.status > 299) throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json, r.statusMessage)}`);
      const etag = r.headers.etag;
      if (typeof etag !== 'string' || etag === '') throw new CacheFailure(`${what}: the storage answered without an ETag`);
      return etag;
    },

    async commit(key: string, uploadId: string, parts: { partNumber: number; etag: string }[], sha256: string): Promise<Saved> {
      const r = await call('committing the upload', {
        method: 'POST',
        url: keyUrl(key, `/uploads/${encodeURIComponent(uploadId)}/commit`),
        auth: true,
        json: { parts },
      });
      return saved('committing the upload', r, sha256);
    },

    /** Best effort: the gateway's garbage collection removes what this does not. */
    async abort(key: string, uploadId: string): Promise<void> {
      await call('aborting the upload', { method: 'DELETE', url: keyUrl(key, `/uploads/${encodeURIComponent(uploadId)}`), auth: true }, 0).catch(
        () => undefined,
      );
    },

    /** Downloads a presigned URL (without the token) to `file`, which must get exactly `size` bytes. */
    async download(url: string, file: string, size: number, onBytes: (delta: number) => void): Promise<void> {
      const target = presigned(url);
      const what = `download from ${target.host}`;
      const r = await call(what, { method: 'GET', url: target, auth: false, saveTo: { path: file, length: size, onBytes } });
      if (r.status !== 200) throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json, r.statusMessage)}`);
    },

    close(): void {
      http.close();
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
