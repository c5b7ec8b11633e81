/**
 * Cache entries of one project: those not restored for CACHE_TTL_DAYS are deleted, and above
 * CACHE_QUOTA_BYTES the least recently used are evicted. Each eviction writes one audit line.
 * Holds one record per entry of the project (the quota needs them all to sort), never more
 * than one project's.
 */
import * as layout from '../caches/layout';
import { indexNames } from '../caches/prefix-index';
import { removeEntry, type CacheEntry, type EntryAt } from '../caches/store';
import type { StorageKey } from '../storage/keys';
import { readEntry } from '../write-once';
import { DAY, objectsBelow, type GcPass } from './pass';

interface Item {
  at: EntryAt;
  entry: CacheEntry;
  usedAt: number;
}

/** What the entries that stay, and the ones evicted here, leave for the orphan sweep to judge. */
export interface CacheVerdicts {
  /** Storage keys of the archives that entries name (evicted ones too: already deleted, not orphans). */
  referenced: Set<string>;
  /** The index names that stay (of the entries kept), and those deleted with their entries here. */
  indexed: Set<string>;
  unindexed: Set<string>;
}

export async function expireCaches(pass: GcPass, project: string, verdicts: CacheVerdicts): Promise<void> {
  const { config } = pass;
  const items = await entriesOf(pass, project, await lastUses(pass, project));
  for (const item of items) verdicts.referenced.add(item.entry.object);
  const kept: Item[] = [];
  for (const item of items) {
    if (pass.now - item.usedAt > config.caches.ttlDays * DAY) await evict(pass, project, item, 'ttl', verdicts);
    else kept.push(item);
  }
  kept.sort((a, b) => a.usedAt - b.usedAt);
  let total = kept.reduce((sum, i) => sum + i.entry.size, 0);
  for (const item of kept) {
    if (total > config.caches.quotaBytes) {
      await evict(pass, project, item, 'quota', verdicts);
      total -= item.entry.size;
    } else {
      for (const name of entryIndexNames(project, item.entry)) verdicts.indexed.add(name);
    }
  }
}

/** When each entry was last restored, by its entry key: the markers restores rewrite. */
async function lastUses(pass: GcPass, project: string): Promise<Map<string, number>> {
  const lastUsed = new Map<string, number>();
  for await (const o of objectsBelow(pass, 'cache', layout.usagePrefix(project))) {
    const k = layout.parseCacheKey(o.key);
    if (k?.kind !== 'usage') continue;
    const usage = await readEntry<{ lastUsedAt?: string }>(pass.storage, 'cache', o.key);
    const at = Date.parse(usage?.lastUsedAt ?? '');
    if (Number.isFinite(at)) lastUsed.set(layout.entryKey(project, k.scope, k.key), at);
  }
  return lastUsed;
}

async function entriesOf(pass: GcPass, project: string, lastUsed: Map<string, number>): Promise<Item[]> {
  const items: Item[] = [];
  for await (const o of objectsBelow(pass, 'cache', layout.entriesPrefix(project))) {
    const k = layout.parseCacheKey(o.key);
    if (k?.kind !== 'entry') continue;
    const entry = await readEntry<CacheEntry>(pass.storage, 'cache', o.key);
    if (!entry) continue;
    const usedAt = Math.max(Date.parse(entry.createdAt), lastUsed.get(o.key) ?? 0);
    items.push({ at: { scope: k.scope, key: k.key }, entry, usedAt });
  }
  return items;
}

async function evict(pass: GcPass, project: string, item: Item, why: 'ttl' | 'quota', verdicts: CacheVerdicts): Promise<void> {
  const { storage, report } = pass;
  await removeEntry(storage, project, item.at, item.entry);
  // the archive stays in `referenced`: deleted here, it is not an orphan to count again
  for (const name of entryIndexNames(project, item.entry)) verdicts.unindexed.add(name);
  report.bytesFreed += item.entry.size;
  if (why === 'ttl') report.cacheExpired++;
  else report.cacheEvicted++;
  pass.audit.info(
    {
      audit: 'cache.evict',
      why,
      what: { project, key: item.entry.key, scope: item.entry.scope, size: item.entry.size, lastUsedAt: new Date(item.usedAt).toISOString() },
    },
    why === 'ttl' ? 'cache entry expired' : 'cache entry evicted over quota',
  );
}

function entryIndexNames(project: string, entry: CacheEntry): StorageKey[] {
  const createdAtMs = Date.parse(entry.createdAt);
  return Number.isFinite(createdAtMs) ? indexNames(project, entry.scope, entry.key, createdAtMs) : [];
}
