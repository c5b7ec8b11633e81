/**
 * The caches API as a program uses it: look-up, streamed save, the direct upload flow (reserve,
 * presigned part PUTs, commit, abort), and the download of a presigned URL, all through the one
 * HTTP layer (http.ts: retries, timeouts). The token goes to the gateway's origin only: presigned
 * URLs are requested without it, and never printed (they are credentials too, for PRESIGN_TTL
 * seconds). Every failure is a CacheFailure whose message starts with what was being done.
 */
import { createReadStream } from 'node:fs';
import type { DeleteTarget, Deleted, EntryPage, ListedEntry, ListQuery, Usage } from '../caches/admin';
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

/** Administering the project's caches: the server's own types, as for entries. */
export type { Deleted as CacheDeletion, DeleteTarget as CacheDeleteTarget, ListedEntry as ListedCacheEntry, Usage as CacheUsage };
export type CacheListQuery = Partial<Omit<ListQuery, 'pageToken' | 'limit'>>;

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
  const projectUrl = (what: string, params: Record<string, string | number | undefined>) => {
    const url = new URL(`${base}/api/v1/projects/${encodeURIComponent(options.project)}/${what}`);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, String(value));
    return url;
  };
  /** An answer other than `ok`, as a CacheFailure naming what was being done and what the gateway said. */
  const answered = (what: string, r: HttpResponse, ok: (json: unknown) => boolean): void => {
    if (r.status !== 200 || !ok(r.json)) throw new CacheFailure(`${what}: ${describeStatus(r.status, r.json, r.statusMessage)}`);
  };

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

    /**
     * Up to `max` entries of the project, page after page, in the order asked for (default: the
     * most recently used first), and how many match in all.
     */
    async listEntries(query: CacheListQuery, max: number): Promise<{ entries: ListedEntry[]; totalCount: number }> {
      const entries: ListedEntry[] = [];
      let pageToken: string | undefined;
      for (;;) {
        const limit = Math.min(1000, max - entries.length);
        const r = await call('listing cache entries', { method: 'GET', url: projectUrl('cache-entries', { ...query, limit, pageToken }), auth: true });
        answered('listing cache entries', r, isEntryPage);
        const page = r.json as EntryPage;
        entries.push(...page.entries);
        pageToken = page.nextPageToken;
        if (pageToken === undefined || entries.length >= max) return { entries, totalCount: page.totalCount };
      }
    },

    /**
     * Deletes what `target` names (in `scope`, or every scope the token may delete in), request
     * after request while more match; null when a key is found in no scope.
     */
    async deleteEntries(target: DeleteTarget, scope?: string): Promise<Deleted | null> {
      const params = { ...('key' in target ? { key: target.key } : 'prefix' in target ? { prefix: target.prefix } : { all: 'true' }), scope };
      const total: Deleted = { deleted: [], count: 0, bytes: 0, more: false };
      for (;;) {
        // a key is not retried: a deletion that landed with its answer lost would be a 404 the
        // second time; a prefix or all deletes what is left, so sending it again is safe
        const r = await call(
          'deleting cache entries',
          { method: 'DELETE', url: projectUrl('cache-entries', params), auth: true },
          'key' in target ? 0 : undefined,
        );
        if (r.status === 404 && 'key' in target) return null;
        answered('deleting cache entries', r, isDeletion);
        const d = r.json as Deleted;
        total.deleted.push(...d.deleted);
        total.count += d.count;
        total.bytes += d.bytes;
        if (!d.more || d.count === 0) return total;
      }
    },

    /** The project's cache usage against its quota. */
    async usage(): Promise<Usage> {
      const r = await call('reading cache usage', { method: 'GET', url: projectUrl('cache-usage', {}), auth: true });
      answered('reading cache usage', r, isUsage);
      return r.json as Usage;
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

function isEntryPage(v: unknown): boolean {
  const o = v as Partial<EntryPage> | undefined;
  return typeof o === 'object' && o !== null && Array.isArray(o.entries) && o.entries.every(isEntry) && typeof o.totalCount === 'number';
}

function isDeletion(v: unknown): boolean {
  const o = v as Partial<Deleted> | undefined;
  return typeof o === 'object' && o !== null && Array.isArray(o.deleted) && typeof o.count === 'number' && typeof o.bytes === 'number';
}

function isUsage(v: unknown): boolean {
  const o = v as Partial<Usage> | undefined;
  return typeof o === 'object' && o !== null && typeof o.size === 'number' && typeof o.quotaBytes === 'number' && Array.isArray(o.scopes);
}
