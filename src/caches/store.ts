/**
 * Caches in the private cache bucket, per project and scope: an entry JSON created create-only
 * (the first writer wins) names the archive bytes written before it; a last-used marker is
 * rewritten (at most hourly) on restore; direct uploads are tracked by a reservation from reserve
 * to commit; restore-key prefixes are answered by an index (prefix-index.ts). Where each lives is
 * layout.ts. All state is in the bucket, so any number of gateway instances share it.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { BadRequestError, ConflictError, NotFoundError } from '../errors';
import { createEntry, hashObject, putJson, readEntry, writeHashed } from '../write-once';
import { mapLimit } from '../map-limit';
import { toStorageKey, type StorageKey } from '../storage/keys';
import type { Storage, UploadedPart } from '../storage/storage';
import * as layout from './layout';
import { indexNames, isIndexed } from './prefix-index';

export interface CacheWriter {
  subject: string;
  project: string;
  branch: string;
  build: string;
  trusted: boolean;
}

export interface CacheEntry {
  key: string;
  scope: string;
  size: number;
  sha256: string;
  createdAt: string;
  createdBy: CacheWriter;
  /** Storage key of the archive. */
  object: string;
  /**
   * What the archive expands to (the uncompressed tar), as the saving client declared it: a
   * bound the restoring client enforces while it extracts. Entries saved before it was recorded,
   * and by clients that do not send it, have none.
   */
  expandedSize?: number;
  /** A build tool's own small headers kept with the entry (turbo's x-artifact-tag); set by src/protocols. */
  meta?: Record<string, string>;
}

/** Where an entry is stored: its scope and key as its storage key says (not as its JSON does). */
export interface EntryAt {
  scope: string;
  key: string;
}

export interface Reservation {
  key: string;
  scope: string;
  object: string;
  storageUploadId: string;
  size: number;
  sha256: string;
  partSize: number;
  createdBy: CacheWriter;
  createdAt: string;
  expandedSize?: number;
}

const TOUCH_EVERY_MS = 60 * 60 * 1000;
/** Names written in parallel per save (one per delimiter prefix of the key, at most 32). */
const INDEX_WRITES_IN_FLIGHT = 8;
/**
 * Entries found are kept in memory this long: an entry is write-once, so what was found stays
 * true until gc or a deletion removes it, and a build tool's hit then costs one storage read, the
 * bytes, instead of two. An entry removed by another instance must not be served from here, so a
 * remembered entry is trusted only where storage is asked anyway: a read of its bytes (a miss when
 * they are gone, which forgets the entry: forget()), or a stat of them (keyed-cache.ts, for small
 * entries it holds in memory). Restores, which hand out a URL without reading the bytes, and the
 * write-once check of a save read the entry afresh (`fresh`).
 */
const ENTRY_CACHE_MS = 60_000;
const ENTRY_CACHE_MAX = 10_000;
/** Index names listed per page: the first is almost always live. */
const INDEX_PAGE = 10;

export class CacheStore {
  private readonly touched = new Map<string, number>();
  private readonly entries = new Map<StorageKey, { entry: CacheEntry; until: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
  ) {}

  entryKey(project: string, scope: string, key: string): StorageKey {
    return layout.entryKey(project, scope, key);
  }

  /** Streams an archive in and commits it; ConflictError (with the entry) when the key exists. */
  async save(
    project: string,
    scope: string,
    key: string,
    body: Readable,
    options: { contentLength: number; createdBy: CacheWriter; expandedSize?: number; sha256?: string; meta?: Record<string, string> },
  ): Promise<CacheEntry> {
    await this.refuseExisting(project, scope, key);
    const object = layout.newObjectKey(project);
    const stored = await writeHashed(this.storage, 'cache', object, body, {
      contentLength: options.contentLength,
      contentType: 'application/octet-stream',
    });
    // content-addressed saves (Bazel's CAS) name their sha256: bytes that do not match never commit
    if (options.sha256 !== undefined && stored.sha256 !== options.sha256) {
      await this.storage.delete('cache', object).catch(() => undefined);
      throw new BadRequestError(`the body's sha256 is ${stored.sha256}, not the ${options.sha256} it was saved under`, 'digest_mismatch');
    }
    return this.commitEntry(project, {
      key,
      scope,
      object,
      size: stored.size,
      sha256: stored.sha256,
      createdBy: options.createdBy,
      ...(options.expandedSize === undefined ? {} : { expandedSize: options.expandedSize }),
      ...(options.meta === undefined ? {} : { meta: options.meta }),
    });
  }

  /**
   * Commits an archive already written (and hashed) at `object`, one of `newObjectKey()`'s: for
   * uploads whose bytes arrive before the request that makes them visible (the Actions cache
   * service's blob URL, then FinalizeCacheEntryUpload). ConflictError (with the entry) when the
   * key exists; the object is then deleted, as save() deletes its own.
   */
  async commitObject(
    project: string,
    scope: string,
    key: string,
    object: StorageKey,
    stored: { size: number; sha256: string },
    createdBy: CacheWriter,
  ): Promise<CacheEntry> {
    if (!layout.objectKeyIn(project, object)) throw new NotFoundError("the archive is not one of this project's objects");
    try {
      await this.refuseExisting(project, scope, key);
    } catch (err) {
      await this.storage.delete('cache', object).catch(() => undefined);
      throw err;
    }
    return this.commitEntry(project, { key, scope, object, size: stored.size, sha256: stored.sha256, createdBy });
  }

  /** A fresh key for the bytes of one archive of `project`. */
  newObjectKey(project: string): StorageKey {
    return layout.newObjectKey(project);
  }

  /** First of `keys` exactly, then each as a prefix (newest wins); scope by scope. */
  async restore(project: string, scopes: string[], keys: string[]): Promise<{ entry: CacheEntry; exact: boolean } | null> {
    for (const scope of scopes) {
      const exact = await this.entry(project, scope, keys[0], { fresh: true });
      if (exact) return { entry: exact, exact: true };
      for (const key of keys) {
        const newest = await this.newestWithPrefix(project, scope, key);
        if (newest) return { entry: newest, exact: false };
      }
    }
    return null;
  }

  /** The entry of `key` in `scope`, or null; remembered for a minute unless `fresh` (see ENTRY_CACHE_MS). */
  async entry(project: string, scope: string, key: string, options: { fresh?: boolean } = {}): Promise<CacheEntry | null> {
    const id = this.entryKey(project, scope, key);
    const cached = this.entries.get(id);
    if (cached && cached.until > this.now() && !options.fresh) return cached.entry;
    const entry = await readEntry<CacheEntry>(this.storage, 'cache', id);
    if (entry) {
      if (this.entries.size >= ENTRY_CACHE_MAX) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(id, { entry, until: this.now() + ENTRY_CACHE_MS });
    } else {
      this.entries.delete(id);
    }
    return entry;
  }

  /** Drops a found entry from memory: its bytes turned out to be gone (gc or a deletion removed it). */
  forget(project: string, entry: Pick<CacheEntry, 'scope' | 'key'>): void {
    this.entries.delete(this.entryKey(project, entry.scope, entry.key));
  }

  /** Deletes an entry and everything of it (removeEntry), and forgets it here at once. */
  async remove(project: string, at: EntryAt, entry: Pick<CacheEntry, 'createdAt' | 'object'>): Promise<void> {
    this.forget(project, at);
    this.touched.delete(layout.usageKey(project, at.scope, at.key));
    await removeEntry(this.storage, project, at, entry);
  }

  objectKey(project: string, entry: Pick<CacheEntry, 'object'>): StorageKey {
    const key = layout.objectKeyIn(project, entry.object);
    if (!key) throw new NotFoundError('cache entry points outside its project');
    return key;
  }

  /** Records a restore, at most once an hour per entry and instance: cheap on the hot path. */
  async touch(project: string, entry: CacheEntry): Promise<void> {
    const id = layout.usageKey(project, entry.scope, entry.key);
    const now = this.now();
    if ((this.touched.get(id) ?? 0) + TOUCH_EVERY_MS > now) return;
    this.touched.set(id, now);
    if (this.touched.size > 100_000) this.touched.clear();
    await putJson(this.storage, 'cache', id, { lastUsedAt: new Date(now).toISOString() });
  }

  /** Starts a direct upload: presigned part URLs the client PUTs to, then commit(). */
  async reserve(
    project: string,
    scope: string,
    key: string,
    options: { size: number; sha256: string; partSize: number; urlTtlSeconds: number; createdBy: CacheWriter; expandedSize?: number },
  ): Promise<{ uploadId: string; partSize: number; parts: Array<{ partNumber: number; url: string }> }> {
    await this.refuseExisting(project, scope, key);
    const partCount = Math.max(1, Math.ceil(options.size / options.partSize));
    if (partCount > 10_000) throw new BadRequestError('the archive needs more than 10,000 parts; raise CACHE_PART_BYTES');
    const uploadId = randomUUID();
    const object = layout.newObjectKey(project);
    const storageUploadId = await this.storage.createMultipartUpload('cache', object);
    const reservation: Reservation = {
      key,
      scope,
      object,
      storageUploadId,
      size: options.size,
      sha256: options.sha256,
      partSize: options.partSize,
      createdBy: options.createdBy,
      createdAt: new Date(this.now()).toISOString(),
      ...(options.expandedSize === undefined ? {} : { expandedSize: options.expandedSize }),
    };
    await createEntry(this.storage, 'cache', layout.reservationKey(project, uploadId), reservation);
    const parts = [];
    for (let partNumber = 1; partNumber <= partCount; partNumber++) {
      const url = await this.storage.presignUploadPart('cache', object, storageUploadId, partNumber, { expiresIn: options.urlTtlSeconds });
      parts.push({ partNumber, url });
    }
    return { uploadId, partSize: options.partSize, parts };
  }

  /**
   * Completes a direct upload. The bytes are hashed back from storage (streamed) before the entry
   * is created: an entry's sha256 is always what is really stored, whatever the client declared.
   */
  async commit(project: string, scope: string, key: string, uploadId: string, parts: UploadedPart[]): Promise<CacheEntry> {
    const rKey = layout.reservationKey(project, uploadId);
    const r = await readEntry<Reservation>(this.storage, 'cache', rKey);
    if (!r || r.key !== key || r.scope !== scope) throw new NotFoundError(`no upload ${uploadId} for this key in this job's scope`);
    const object = this.objectKey(project, r);
    let committing = false;
    try {
      const info = await this.storage.completeMultipartUpload('cache', object, r.storageUploadId, parts);
      if (info.size !== r.size) throw new BadRequestError(`the parts add up to ${info.size} bytes, not the ${r.size} reserved`);
      const stored = await hashObject(this.storage, 'cache', object);
      if (stored.sha256 !== r.sha256) throw new BadRequestError('the uploaded bytes do not match the sha256 given at reserve');
      committing = true;
      return await this.commitEntry(project, {
        key,
        scope,
        object,
        size: stored.size,
        sha256: stored.sha256,
        createdBy: r.createdBy,
        ...(r.expandedSize === undefined ? {} : { expandedSize: r.expandedSize }),
      });
    } catch (err) {
      // a commit that failed may still have landed (its answer lost on the way back): then the
      // entry names this object, and deleting it would lose a committed cache. A lost race
      // (ConflictError) already deleted it; anything else leaves it to gc, which removes it a
      // day later if no entry refers to it.
      if (!committing) {
        await this.storage.delete('cache', object).catch(() => undefined);
        await this.storage.abortMultipartUpload('cache', object, r.storageUploadId).catch(() => undefined);
      }
      throw err;
    } finally {
      await this.storage.delete('cache', rKey).catch(() => undefined);
    }
  }

  async abort(project: string, scope: string, key: string, uploadId: string): Promise<void> {
    const rKey = layout.reservationKey(project, uploadId);
    const r = await readEntry<Reservation>(this.storage, 'cache', rKey);
    if (!r || r.key !== key || r.scope !== scope) throw new NotFoundError(`no upload ${uploadId} for this key in this job's scope`);
    await this.storage.abortMultipartUpload('cache', this.objectKey(project, r), r.storageUploadId);
    await this.storage.delete('cache', rKey);
  }

  private async refuseExisting(project: string, scope: string, key: string): Promise<void> {
    // fresh: a key deleted on another instance must be saveable again at once
    const existing = await this.entry(project, scope, key, { fresh: true });
    if (existing) throw conflict(existing);
  }

  /** Index names first, then the entry: every committed entry is in the index. */
  private async commitEntry(project: string, e: Omit<CacheEntry, 'createdAt'>): Promise<CacheEntry> {
    const createdAtMs = this.now();
    const entry: CacheEntry = { ...e, createdAt: new Date(createdAtMs).toISOString() };
    const names = indexNames(project, e.scope, e.key, createdAtMs);
    await mapLimit(names, INDEX_WRITES_IN_FLIGHT, (name) => this.storage.write('cache', name, Readable.from([]), { contentLength: 0 }));
    if (await createEntry(this.storage, 'cache', this.entryKey(project, e.scope, e.key), entry)) return entry;
    // lost the race: another writer committed this key first; ours is discarded
    await this.storage.delete('cache', toStorageKey(e.object)).catch(() => undefined);
    const winner = await this.entry(project, e.scope, e.key);
    // names are (time, key): a winner of the same millisecond has the same names
    if (winner?.createdAt !== entry.createdAt) {
      await mapLimit(names, INDEX_WRITES_IN_FLIGHT, (name) => this.storage.delete('cache', name)).catch(() => undefined);
    }
    throw conflict(winner ?? entry);
  }

  private async newestWithPrefix(project: string, scope: string, prefix: string): Promise<CacheEntry | null> {
    if (isIndexed(prefix)) {
      const indexed = await this.newestIndexed(project, scope, prefix);
      if (indexed) return indexed;
      // nothing (live) indexed: entries saved before the index existed are found by listing
    }
    return this.newestListed(project, scope, prefix);
  }

  /** The first name under the prefix whose entry exists with the same createdAt. */
  private async newestIndexed(project: string, scope: string, prefix: string): Promise<CacheEntry | null> {
    let pageToken: string | undefined;
    do {
      const page = await this.storage.list('cache', layout.indexPrefix(project, scope, prefix), { limit: INDEX_PAGE, pageToken });
      for (const item of page.items) {
        const name = layout.parseCacheKey(item.key);
        if (name?.kind !== 'index' || name.scope !== scope || !name.key.startsWith(prefix)) continue;
        const entry = await this.entry(project, scope, name.key, { fresh: true });
        if (entry && Date.parse(entry.createdAt) === name.createdAtMs) return entry;
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    return null;
  }

  private async newestListed(project: string, scope: string, prefix: string): Promise<CacheEntry | null> {
    let best: { key: StorageKey; at: number }[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.storage.list('cache', layout.entryKeyPrefix(project, scope, prefix), { pageToken });
      for (const item of page.items) {
        const at = item.lastModified.getTime();
        if (best.length === 0 || at > best[0].at) best = [{ key: item.key, at }];
        else if (at === best[0].at) best.push({ key: item.key, at });
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    // storage times have second resolution on S3: break ties with the entries' own timestamps
    let winner: CacheEntry | null = null;
    for (const candidate of best) {
      const entry = await readEntry<CacheEntry>(this.storage, 'cache', candidate.key);
      if (entry && (!winner || entry.createdAt > winner.createdAt)) winner = entry;
    }
    return winner;
  }
}

/**
 * Deletes one entry: the entry first (from then on it is neither restored nor listed), then its
 * last-used marker, its index names and its archive. What a failure part way leaves behind is
 * what gc already sweeps: index names of no entry, and an archive no entry names (an orphan a day
 * later). gc's evictions and the caches API's deletions both go through here.
 */
export async function removeEntry(storage: Storage, project: string, at: EntryAt, entry: Pick<CacheEntry, 'createdAt' | 'object'>): Promise<void> {
  await storage.delete('cache', layout.entryKey(project, at.scope, at.key));
  await storage.delete('cache', layout.usageKey(project, at.scope, at.key));
  const createdAtMs = Date.parse(entry.createdAt);
  const names = Number.isFinite(createdAtMs) ? indexNames(project, at.scope, at.key, createdAtMs) : [];
  await mapLimit(names, INDEX_WRITES_IN_FLIGHT, (name) => storage.delete('cache', name));
  const object = layout.objectKeyIn(project, entry.object);
  if (object) await storage.delete('cache', object);
}

function conflict(existing: CacheEntry): ConflictError {
  return new ConflictError(
    `cache key ${JSON.stringify(existing.key)} already exists in scope ${existing.scope}; cache entries are write-once`,
    publicEntry(existing),
  );
}

/** What clients see of an entry (never the storage key). */
export type PublicCacheEntry = Omit<CacheEntry, 'object'>;

export function publicEntry(e: CacheEntry): PublicCacheEntry {
  const out: PublicCacheEntry = { key: e.key, scope: e.scope, size: e.size, sha256: e.sha256, createdAt: e.createdAt, createdBy: e.createdBy };
  // only when recorded: entries saved without it answer as before
  if (typeof e.expandedSize === 'number') out.expandedSize = e.expandedSize;
  return out;
}
