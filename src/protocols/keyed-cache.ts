/**
 * The one adapter every build tool's protocol goes through: "a blob of protocol P under key K"
 * onto the cache store (caches/store.ts), so these caches get what the job caches have:
 * write-once entries, scopes, TTL, quota and gc, audit lines, metrics.
 *
 * - Keyed entries (turbo, Nx, Bazel's action cache, ccache, Gradle) are written into the job's
 *   write scope and read from its read scopes (caches/scopes.ts): a trusted job never restores
 *   what a pull request wrote, which is the poisoning a single shared token allows (Nx
 *   CVE-2025-36852).
 * - Content-addressed entries (Bazel's CAS) are verified against the sha256 that names them
 *   before they commit, so they cannot be poisoned: they share one project-wide scope.
 *
 * - Restores with fallback keys (the Actions cache service) go through restore(): the caches
 *   API's own semantics (CacheStore.restore), not a second implementation of them.
 *
 * Failure behaviour: lookup() resolves null on a miss (a miss is not an error); open() throws
 * NotFoundError when the entry's bytes vanished under it (gc); save() resolves 'duplicate' when
 * the key already holds an entry in that scope (the first writer wins) and throws
 * BadRequestError (digest_mismatch) when content-addressed bytes do not match their name,
 * PayloadTooLargeError/LengthRequiredError before reading a body it refuses, and whatever the
 * store throws for a body cut short (nothing becomes visible).
 */
import type { Context } from 'koa';
import type { JobIdentity } from '../auth/job-token';
import type { Config } from '../config';
import { ConflictError, NotFoundError, StorageError } from '../errors';
import { declaredLength } from '../http/body';
import type { Logger } from '../http/logger';
import type { Metrics } from '../http/metrics';
import type { ReadResult, Storage } from '../storage/storage';
import { readScopes, writeScope } from '../caches/scopes';
import type { CacheEntry, CacheStore } from '../caches/store';

export type Protocol = 'turbo' | 'nx' | 'bazel-ac' | 'bazel-cas' | 'ccache' | 'gradle' | 'actions';

/** The scope content-addressed entries share: no branch scope is named like this. */
const CONTENT_ADDRESSED_SCOPE = 'content-addressed';

/**
 * Small entries' bytes are kept in memory, least recently used out first: Bazel's CAS blobs and
 * action results, ccache's and Gradle's entries are mostly a few KiB, asked for again and again by
 * every job, and each would otherwise cost a storage round trip (bench figure 6). Safe to keep:
 * an entry's archive is written once under a name of its own and never changes. Bounded in bytes,
 * so memory stays flat; larger entries always stream from storage.
 */
const SMALL_ENTRY_MAX_BYTES = 64 * 1024;
const SMALL_ENTRIES_MAX_BYTES = 32 * 1024 * 1024;

export interface KeyedCacheDeps {
  config: Config;
  store: CacheStore;
  storage: Storage;
  metrics: Metrics;
  audit: Logger;
}

export class KeyedCache {
  private readonly small = new Map<string, Buffer>();
  private smallBytes = 0;

  constructor(private readonly deps: KeyedCacheDeps) {}

  /** The entry `key` names for this job, searched in its read scopes; null on a miss. */
  async lookup(job: JobIdentity, protocol: Protocol, key: string): Promise<CacheEntry | null> {
    const { store, metrics } = this.deps;
    const storeKey = `${protocol}/${key}`;
    for (const scope of this.readScopes(job, protocol)) {
      const entry = await store.entry(job.project, scope, storeKey);
      if (entry) {
        metrics.protocolRequests.inc({ protocol, result: 'hit' });
        // last-used is advisory: failing to record it must not fail the hit
        await store.touch(job.project, entry).catch((err: unknown) => this.deps.audit.warn({ err }, 'could not record cache use'));
        return entry;
      }
    }
    metrics.protocolRequests.inc({ protocol, result: 'miss' });
    return null;
  }

  /**
   * Whether `key` names an entry for this job, as lookup() finds it, but neither a hit nor a miss
   * and not a use: the existence check ccache makes before each upload (a HEAD).
   */
  async has(job: JobIdentity, protocol: Protocol, key: string): Promise<CacheEntry | null> {
    for (const scope of this.readScopes(job, protocol)) {
      const entry = await this.deps.store.entry(job.project, scope, `${protocol}/${key}`);
      if (entry) return entry;
    }
    return null;
  }

  /** Answers with a found entry: its bytes streamed through the gateway, or only its length for a HEAD. */
  async send(ctx: Context, job: JobIdentity, protocol: Protocol, entry: CacheEntry): Promise<void> {
    // Koa answers 404 until a body or a status is set, and a HEAD sets no body
    ctx.status = 200;
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'application/octet-stream';
    ctx.length = entry.size;
    if (ctx.method === 'HEAD') {
      if (!(await this.stillStored(job, entry))) throw new NotFoundError('the cache entry was deleted');
      return;
    }
    if (entry.size > SMALL_ENTRY_MAX_BYTES) {
      ctx.body = (await this.open(ctx, job, protocol, entry)).body;
      return;
    }
    const object = this.deps.store.objectKey(job.project, entry);
    let bytes = this.small.get(object);
    // the entry may be one the store remembers and another instance has deleted since: the bytes
    // in memory are served only while storage still holds them (a stat, not a read)
    if (bytes && !(await this.stillStored(job, entry))) {
      this.forgetBytes(object);
      throw new NotFoundError('the cache entry was deleted');
    }
    if (bytes) {
      // most recently used last: the Map's order is the eviction order
      this.small.delete(object);
      this.small.set(object, bytes);
      this.deps.metrics.protocolBytes.inc({ protocol, direction: 'down' }, entry.size);
    } else {
      bytes = await readAll((await this.open(ctx, job, protocol, entry)).body, entry.size);
      this.remember(object, bytes);
    }
    ctx.body = bytes;
  }

  /** Whether the entry's archive is still stored; forgets the entry when it is not. */
  private async stillStored(job: JobIdentity, entry: CacheEntry): Promise<boolean> {
    if (await this.deps.storage.stat('cache', this.deps.store.objectKey(job.project, entry))) return true;
    this.deps.store.forget(job.project, entry);
    return false;
  }

  private forgetBytes(object: string): void {
    const old = this.small.get(object);
    if (!old) return;
    this.small.delete(object);
    this.smallBytes -= old.length;
  }

  private remember(object: string, bytes: Buffer): void {
    this.small.set(object, bytes);
    this.smallBytes += bytes.length;
    for (const [key, old] of this.small) {
      if (this.smallBytes <= SMALL_ENTRIES_MAX_BYTES) break;
      this.small.delete(key);
      this.smallBytes -= old.length;
    }
  }

  /**
   * The caches API's restore (CacheStore.restore) in the job's read scopes, scope by scope:
   * `keys[0]` exactly, then each key as a prefix, newest wins. Null on a miss.
   */
  async restore(job: JobIdentity, protocol: Protocol, keys: string[]): Promise<{ entry: CacheEntry; exact: boolean } | null> {
    const { store, metrics } = this.deps;
    const hit = await store.restore(
      job.project,
      this.readScopes(job, protocol),
      keys.map((k) => `${protocol}/${k}`),
    );
    metrics.protocolRequests.inc({ protocol, result: hit ? 'hit' : 'miss' });
    if (!hit) return null;
    // last-used is advisory: failing to record it must not fail the hit
    await store.touch(job.project, hit.entry).catch((err: unknown) => this.deps.audit.warn({ err }, 'could not record cache use'));
    // the bytes go out through a signed URL: counted as served when it is handed out
    metrics.protocolBytes.inc({ protocol, direction: 'down' }, hit.entry.size);
    return hit;
  }

  /** The store key of a protocol's key: what restore() and saves under it use. */
  storeKey(protocol: Protocol, key: string): string {
    return `${protocol}/${key}`;
  }

  /** The job's write scope for `protocol`. */
  writeScope(job: JobIdentity, protocol: Protocol): string {
    return protocol === 'bazel-cas' ? CONTENT_ADDRESSED_SCOPE : writeScope(job);
  }

  /** Streams a found entry's bytes; the read is cancelled if the client goes away. */
  async open(ctx: Context, job: JobIdentity, protocol: Protocol, entry: CacheEntry): Promise<ReadResult> {
    const controller = new AbortController();
    ctx.res.once('close', () => ctx.res.writableFinished || controller.abort());
    let read: ReadResult;
    try {
      read = await this.deps.storage.read('cache', this.deps.store.objectKey(job.project, entry), { signal: controller.signal });
    } catch (err) {
      // gc removed it since it was found: a later lookup must miss, and a save store it again
      if (err instanceof NotFoundError) this.deps.store.forget(job.project, entry);
      throw err;
    }
    this.deps.metrics.protocolBytes.inc({ protocol, direction: 'down' }, entry.size);
    return read;
  }

  /**
   * Saves the request body under `key` in the job's write scope (the shared one for
   * content-addressed entries, checked against `sha256`). The body's length is checked against
   * the cache limit before a byte is read.
   */
  async save(
    ctx: Context,
    job: JobIdentity,
    protocol: Protocol,
    key: string,
    options: { sha256?: string; meta?: Record<string, string> } = {},
  ): Promise<'stored' | 'duplicate'> {
    const { store, config } = this.deps;
    const scope = this.writeScope(job, protocol);
    const storeKey = this.storeKey(protocol, key);
    const createdBy = { subject: job.subject, project: job.project, branch: job.branch, build: job.build, trusted: job.trusted };
    // a duplicate is answered before the body is read; node discards the unread body
    if (await store.entry(job.project, scope, storeKey)) return this.duplicate(protocol);
    const length = declaredLength(ctx, config.caches.maxBytes, `${protocol} cache`);
    let entry: CacheEntry;
    try {
      entry = await store.save(job.project, scope, storeKey, ctx.req, { contentLength: length, createdBy, ...options });
    } catch (err) {
      // two jobs saving the same key at once: the first wins and the other's bytes are discarded
      if (err instanceof ConflictError) return this.duplicate(protocol);
      throw err;
    }
    this.saved(ctx, protocol, entry);
    return 'stored';
  }

  /** The metrics and audit line of a stored entry; for protocols that commit their entries themselves. */
  saved(ctx: Context, protocol: Protocol, entry: CacheEntry): void {
    const { metrics, audit } = this.deps;
    metrics.protocolRequests.inc({ protocol, result: 'stored' });
    metrics.protocolBytes.inc({ protocol, direction: 'up' }, entry.size);
    audit.info(
      {
        audit: 'cache.save',
        reqId: ctx.state.requestId,
        who: entry.createdBy,
        what: { protocol, key: entry.key, scope: entry.scope, size: entry.size, sha256: entry.sha256 },
      },
      'cache entry saved',
    );
  }

  /** Counts a save refused because the key already holds an entry. */
  duplicate(protocol: Protocol): 'duplicate' {
    this.deps.metrics.protocolRequests.inc({ protocol, result: 'duplicate' });
    return 'duplicate';
  }

  private readScopes(job: JobIdentity, protocol: Protocol): string[] {
    return protocol === 'bazel-cas' ? [CONTENT_ADDRESSED_SCOPE] : readScopes(job);
  }
}

/** A small body read whole; one of another length than its entry says is a storage fault. */
async function readAll(body: NodeJS.ReadableStream, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    length += buf.length;
    if (length > size) break;
    chunks.push(buf);
  }
  if (length !== size) throw new StorageError(`a cache entry of ${size} bytes read back as ${length} bytes`);
  return Buffer.concat(chunks, size);
}
