/**
 * Retention (`artifact-gateway gc`, or in-process every GC_INTERVAL_MINUTES):
 * - cache entries not restored for CACHE_TTL_DAYS are deleted;
 * - above CACHE_QUOTA_BYTES per project, least recently used cache entries are evicted;
 * - artifacts older than ARTIFACT_RETENTION_DAYS are deleted;
 * - objects no entry refers to (uploads that failed halfway, losers of write races) and direct
 *   uploads never committed are removed once they are a day old, and so are restore-prefix index
 *   names (caches/prefix-index.ts) whose entry is gone;
 * - what writes cut off by a crash left where no listing shows it (fs temp files, S3 staging
 *   objects and incomplete multipart uploads) is removed once it is older than the longest a
 *   direct upload may take (CACHE_UPLOAD_TTL) and a day.
 * It reads and deletes only through the Storage interface, so it runs the same on fs and s3, and
 * is idempotent: two instances running it at once delete the same things, nothing more.
 * Every eviction writes one audit line.
 */
import type { Config } from '../config';
import type { Logger } from '../http/logger';
import { readEntry } from '../write-once';
import { toKeyPrefix, toStorageKey, type StorageKey } from '../storage/keys';
import type { BucketName, ObjectInfo, Storage } from '../storage/storage';
import type { ArtifactEntry } from '../artifacts/store';
import { indexNames } from '../caches/prefix-index';
import type { CacheEntry } from '../caches/store';

export interface GcReport {
  cacheExpired: number;
  cacheEvicted: number;
  artifactsExpired: number;
  orphansRemoved: number;
  uploadsAborted: number;
  abandonedWritesRemoved: number;
  bytesFreed: number;
}

const DAY = 86_400_000;
/** Objects younger than this are never orphans: their upload may still be committing. */
const ORPHAN_GRACE_MS = DAY;

async function listAll(storage: Storage, bucket: BucketName, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  let pageToken: string | undefined;
  do {
    const page = await storage.list(bucket, toKeyPrefix(prefix), { pageToken });
    out.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** `p/<project>/<kind>/…` -> [project (encoded), kind, rest]. */
function split(key: string): [string, string, string] | null {
  const m = /^p\/([^/]+)\/([a-z])\/(.+)$/.exec(key);
  return m ? [m[1]!, m[2]!, m[3]!] : null;
}

export async function runGc(deps: { storage: Storage; config: Config; logger: Logger; now?: () => number }): Promise<GcReport> {
  const { storage, config } = deps;
  const now = (deps.now ?? Date.now)();
  const audit = deps.logger; // each audit line names its event in `audit`
  const report: GcReport = { cacheExpired: 0, cacheEvicted: 0, artifactsExpired: 0, orphansRemoved: 0, uploadsAborted: 0, abandonedWritesRemoved: 0, bytesFreed: 0 };
  const del = (bucket: BucketName, key: string) => storage.delete(bucket, toStorageKey(key));

  // ---- caches
  const cacheObjects = await listAll(storage, 'cache', 'p/');
  const referenced = new Set<string>();
  const lastUsed = new Map<string, number>();
  const perProject = new Map<string, Array<{ entryKey: StorageKey; entry: CacheEntry; usedAt: number }>>();
  for (const o of cacheObjects) {
    const parts = split(o.key);
    if (parts?.[1] === 'u') {
      const usage = await readEntry<{ lastUsedAt?: string }>(storage, 'cache', o.key);
      const at = Date.parse(usage?.lastUsedAt ?? '');
      if (Number.isFinite(at)) lastUsed.set(`${parts[0]}/${parts[2]}`, at);
    }
  }
  for (const o of cacheObjects) {
    const parts = split(o.key);
    if (!parts) continue;
    const [project, kind, rest] = parts;
    if (kind === 's') {
      const entry = await readEntry<CacheEntry>(storage, 'cache', o.key);
      if (!entry) continue;
      referenced.add(entry.object);
      const usedAt = Math.max(Date.parse(entry.createdAt), lastUsed.get(`${project}/${rest}`) ?? 0);
      const list = perProject.get(project) ?? [];
      list.push({ entryKey: o.key, entry, usedAt });
      perProject.set(project, list);
    } else if (kind === 'r') {
      const r = await readEntry<{ object: string; storageUploadId: string; createdAt: string }>(storage, 'cache', o.key);
      if (!r) continue;
      if (now - Date.parse(r.createdAt) > config.caches.uploadTtlSeconds * 1000 + ORPHAN_GRACE_MS) {
        await storage.abortMultipartUpload('cache', toStorageKey(r.object), r.storageUploadId).catch(() => undefined);
        await del('cache', o.key);
        report.uploadsAborted++;
      } else {
        referenced.add(r.object);
      }
    }
  }

  const indexed = new Set<string>(); // index names of entries that stay
  const unindexed = new Set<string>(); // and of the entries evicted here
  const evict = async (project: string, item: { entryKey: StorageKey; entry: CacheEntry; usedAt: number }, why: 'ttl' | 'quota') => {
    await del('cache', item.entryKey);
    await del('cache', `p/${project}/u/${item.entryKey.slice(item.entryKey.indexOf('/s/') + 3)}`);
    for (const name of entryIndexNames(project, item.entry)) {
      await del('cache', name);
      unindexed.add(name);
    }
    await del('cache', item.entry.object);
    // stays in `referenced`: deleted here, it is not an orphan to count again below
    report.bytesFreed += item.entry.size;
    if (why === 'ttl') report.cacheExpired++;
    else report.cacheEvicted++;
    audit.info(
      {
        audit: 'cache.evict',
        why,
        what: { project: decodeURIComponent(project), key: item.entry.key, scope: item.entry.scope, size: item.entry.size, lastUsedAt: new Date(item.usedAt).toISOString() },
      },
      why === 'ttl' ? 'cache entry expired' : 'cache entry evicted over quota',
    );
  };

  for (const [project, items] of perProject) {
    const kept = [];
    for (const item of items) {
      if (now - item.usedAt > config.caches.ttlDays * DAY) await evict(project, item, 'ttl');
      else kept.push(item);
    }
    kept.sort((a, b) => a.usedAt - b.usedAt);
    let total = kept.reduce((sum, i) => sum + i.entry.size, 0);
    const evicted = new Set<(typeof kept)[number]>();
    for (const item of kept) {
      if (total <= config.caches.quotaBytes) break;
      await evict(project, item, 'quota');
      evicted.add(item);
      total -= item.entry.size;
    }
    for (const item of kept) if (!evicted.has(item)) for (const name of entryIndexNames(project, item.entry)) indexed.add(name);
  }
  report.orphansRemoved += await removeOrphans('cache', cacheObjects, referenced, now, del);
  // index names of lost races, crashed saves and entries deleted by an older gc
  for (const o of cacheObjects) {
    if (split(o.key)?.[1] !== 'n' || indexed.has(o.key) || unindexed.has(o.key)) continue;
    if (now - o.lastModified.getTime() < ORPHAN_GRACE_MS) continue;
    await del('cache', o.key);
    report.orphansRemoved++;
  }

  // ---- artifacts
  const artifactObjects = await listAll(storage, 'artifacts', 'p/');
  const live = new Set<string>();
  for (const o of artifactObjects) {
    if (split(o.key)?.[1] !== 'b') continue;
    const entry = await readEntry<ArtifactEntry>(storage, 'artifacts', o.key);
    if (!entry) continue;
    if (now - Date.parse(entry.createdAt) > config.artifactRetentionDays * DAY) {
      await del('artifacts', o.key);
      await del('artifacts', entry.object);
      report.artifactsExpired++;
      report.bytesFreed += entry.size;
      audit.info({ audit: 'artifact.expire', what: { key: o.key, size: entry.size, createdAt: entry.createdAt } }, 'artifact expired');
    } else {
      live.add(entry.object);
    }
  }
  report.orphansRemoved += await removeOrphans('artifacts', artifactObjects, live, now, del);

  // ---- writes a crash cut off (no listing shows them)
  const abandoned = await storage.removeAbandonedWrites(new Date(now - config.caches.uploadTtlSeconds * 1000 - ORPHAN_GRACE_MS));
  report.abandonedWritesRemoved = abandoned.count;
  report.bytesFreed += abandoned.bytes;
  return report;
}

function entryIndexNames(project: string, entry: CacheEntry): StorageKey[] {
  const createdAtMs = Date.parse(entry.createdAt);
  return Number.isFinite(createdAtMs) ? indexNames(decodeURIComponent(project), entry.scope, entry.key, createdAtMs) : [];
}

async function removeOrphans(
  bucket: BucketName,
  objects: ObjectInfo[],
  referenced: Set<string>,
  now: number,
  del: (bucket: BucketName, key: string) => Promise<void>,
): Promise<number> {
  let removed = 0;
  for (const o of objects) {
    if (split(o.key)?.[1] !== 'o' || referenced.has(o.key)) continue;
    // an upload writes its object, then its entry within the same request: a day of grace
    // (by the storage's own clock) keeps gc away from uploads still in flight
    if (now - o.lastModified.getTime() < ORPHAN_GRACE_MS) continue;
    await del(bucket, o.key);
    removed++;
  }
  return removed;
}
