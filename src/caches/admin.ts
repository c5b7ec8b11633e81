/**
 * A project's caches as its people administer them, as `gh cache list|delete` and GitHub's cache
 * REST API do for GitHub's: the entries (filtered, sorted, paged), usage against the quota, and
 * deletion by key, by key prefix or all, each within what the job may touch (scopes.ts).
 *
 * Every entry of the project is listed, whoever wrote it: `cache save`, the caches API, and the
 * build tools' protocols, whose keys carry their protocol in front (`turbo/<hash>`,
 * `actions/<version>/<key>`, `bazel-cas/<sha256>` in the `content-addressed` scope).
 *
 * Cost: a listing is one storage LIST per 1,000 entries and per 1,000 last-used markers; sorted
 * by key it then reads the entries of its page only, sorted by anything else (and usage) it reads
 * every entry that matches and its last-used marker, 16 at a time, as gc does: the times it sorts
 * by are the ones gc judges by, whatever storage's clock says. Paging is by position (the last
 * entry's sort value, scope and key), so entries saved or deleted between two pages neither repeat
 * nor push others out.
 */
import { BadRequestError, ForbiddenError, NotFoundError } from '../errors';
import { mapLimit } from '../map-limit';
import type { KeyPrefix, StorageKey } from '../storage/keys';
import type { Storage } from '../storage/storage';
import { readEntry } from '../write-once';
import type { JobIdentity } from '../auth/job-token';
import type { Order, Sort } from './admin-query';
import * as layout from './layout';
import { mayDelete, mayList, writeScope } from './scopes';
import { publicEntry, type CacheEntry, type CacheStore, type PublicCacheEntry } from './store';

/** Entries one DELETE removes at most; the answer says when more match (`more`). */
export const MAX_DELETE = 1000;
const READS_IN_FLIGHT = 16;

export interface ListedEntry extends PublicCacheEntry {
  /** The last restore's time, or createdAt when it was never restored (as gc judges it). */
  lastUsedAt: string;
}

export interface ListQuery {
  prefix?: string;
  scope?: string;
  sort: Sort;
  order: Order;
  limit: number;
  pageToken?: string;
}

export interface EntryPage {
  entries: ListedEntry[];
  /** Entries that match the filters, on every page. */
  totalCount: number;
  nextPageToken?: string;
}

export interface Usage {
  quotaBytes: number;
  ttlDays: number;
  /** The whole project: what the quota is measured against. */
  size: number;
  count: number;
  /** Per scope the job may list, largest first. */
  scopes: Array<{ scope: string; size: number; count: number }>;
}

export type DeleteTarget = { key: string } | { prefix: string } | { all: true };

export interface Deleted {
  deleted: Array<{ key: string; scope: string; size: number }>;
  count: number;
  bytes: number;
  /** More entries match than one request deletes (MAX_DELETE): send it again. */
  more: boolean;
}

/** One entry as the listing finds it; `entry` and the exact times once its JSON is read. */
interface Listed {
  at: StorageKey;
  scope: string;
  key: string;
  /** It has a last-used marker (it was restored). */
  marked: boolean;
  entry?: CacheEntry;
  createdMs: number;
  usedMs: number;
}

type Who = Pick<JobIdentity, 'trusted' | 'branch' | 'baseBranch' | 'defaultBranch'>;

export class CacheAdmin {
  constructor(
    private readonly storage: Storage,
    private readonly store: CacheStore,
    private readonly limits: { quotaBytes: number; ttlDays: number },
  ) {}

  async list(job: Who, project: string, q: ListQuery): Promise<EntryPage> {
    if (q.scope !== undefined && !mayList(job, q.scope)) throw forbiddenScope(q.scope, 'list');
    const cursor = q.pageToken === undefined ? undefined : parseToken(q.pageToken, q);
    let items = await this.scan(job, project, q.scope, q.prefix ?? '');
    // keys sort as listed; any other order needs every entry's recorded times or size
    if (q.sort !== 'key') items = await this.read(project, items);
    const value = sortValue(q.sort);
    const sign = q.order === 'asc' ? 1 : -1;
    items.sort((a, b) => sign * compareTuples([value(a), a.scope, a.key], [value(b), b.scope, b.key]));
    const start = cursor === undefined ? 0 : items.findIndex((i) => sign * compareTuples([value(i), i.scope, i.key], cursor) > 0);
    const page = start === -1 ? [] : items.slice(start, start + q.limit);
    const shown = q.sort === 'key' ? await this.read(project, page) : page;
    const last = page[page.length - 1];
    const more = start !== -1 && start + q.limit < items.length;
    return {
      entries: shown.map(listed),
      totalCount: items.length,
      ...(more && last ? { nextPageToken: makeToken(q, [value(last), last.scope, last.key]) } : {}),
    };
  }

  async usage(job: Who, project: string): Promise<Usage> {
    const all = await this.read(project, await this.scan({ ...job, trusted: true }, project, undefined, ''));
    const byScope = new Map<string, { size: number; count: number }>();
    for (const item of all) {
      if (!mayList(job, item.scope)) continue;
      const s = byScope.get(item.scope) ?? { size: 0, count: 0 };
      s.size += item.entry?.size ?? 0;
      s.count++;
      byScope.set(item.scope, s);
    }
    return {
      quotaBytes: this.limits.quotaBytes,
      ttlDays: this.limits.ttlDays,
      size: all.reduce((n, i) => n + (i.entry?.size ?? 0), 0),
      count: all.length,
      scopes: [...byScope].map(([scope, s]) => ({ scope, ...s })).sort((a, b) => b.size - a.size || compareStrings(a.scope, b.scope)),
    };
  }

  /**
   * Deletes what `target` names in `scope`, or in every scope the job may delete in. A job that
   * names a scope it may not delete in gets a 403 before anything is read; a key found nowhere is a
   * 404; a prefix or `all` that matches nothing deletes nothing (count 0).
   */
  async delete(job: Who, project: string, target: DeleteTarget, scope?: string): Promise<Deleted> {
    if (scope !== undefined && !mayDelete(job, scope)) throw forbiddenScope(scope, 'delete');
    const scopes = scope !== undefined ? [scope] : job.trusted ? await this.scopes(project) : [writeScope(job)];
    const found: Listed[] = [];
    let more = false;
    for (const s of scopes) {
      if ('key' in target) {
        const entry = await this.store.entry(project, s, target.key, { fresh: true });
        if (entry) found.push({ at: layout.entryKey(project, s, target.key), scope: s, key: target.key, marked: false, createdMs: 0, usedMs: 0 });
        continue;
      }
      const prefix = 'prefix' in target ? target.prefix : '';
      for await (const item of this.entriesBelow(layout.entryKeyPrefix(project, s, prefix))) {
        if (found.length === MAX_DELETE) {
          more = true;
          break;
        }
        found.push(item);
      }
      if (more) break;
    }
    if ('key' in target && found.length === 0) {
      throw new NotFoundError(`no cache entry with key ${JSON.stringify(target.key)} in ${scope ?? (job.trusted ? 'any scope' : `scope ${scopes[0]}`)}`);
    }
    const deleted: Deleted['deleted'] = [];
    await mapLimit(found, READS_IN_FLIGHT, async (item) => {
      // the rule again, by where the entry is stored: nothing a listing found reaches past it
      if (!mayDelete(job, item.scope)) throw forbiddenScope(item.scope, 'delete');
      const entry = await readEntry<CacheEntry>(this.storage, 'cache', item.at);
      if (!entry) return; // deleted meanwhile
      await this.store.remove(project, item, entry);
      deleted.push({ key: item.key, scope: item.scope, size: entry.size });
    });
    deleted.sort((a, b) => compareStrings(a.scope, b.scope) || compareStrings(a.key, b.key));
    return { deleted, count: deleted.length, bytes: deleted.reduce((n, d) => n + d.size, 0), more };
  }

  /** The project's entries the job may list, filtered: what a listing of their keys tells. */
  private async scan(job: Who, project: string, scope: string | undefined, prefix: string): Promise<Listed[]> {
    const marked = new Set<string>();
    for await (const o of this.objectsBelow(layout.usagePrefix(project))) {
      const k = layout.parseCacheKey(o.key);
      if (k?.kind === 'usage') marked.add(layout.entryKey(project, k.scope, k.key));
    }
    const below = scope === undefined ? layout.entriesPrefix(project) : layout.entryKeyPrefix(project, scope, prefix);
    const out: Listed[] = [];
    for await (const item of this.entriesBelow(below)) {
      if (!item.key.startsWith(prefix) || !mayList(job, item.scope)) continue;
      item.marked = marked.has(item.at);
      out.push(item);
    }
    return out;
  }

  /**
   * The items with their entries and the times they record (created, last used: as gc judges
   * them), 16 reads at a time; those deleted meanwhile are left out.
   */
  private async read(project: string, items: Listed[]): Promise<Listed[]> {
    const read = await mapLimit(items, READS_IN_FLIGHT, async (item): Promise<Listed | null> => {
      const entry = await readEntry<CacheEntry>(this.storage, 'cache', item.at);
      if (!entry) return null;
      const marker = item.marked ? await readEntry<{ lastUsedAt?: string }>(this.storage, 'cache', layout.usageKey(project, item.scope, item.key)) : null;
      const createdMs = Date.parse(entry.createdAt) || 0;
      return { ...item, entry, createdMs, usedMs: Math.max(createdMs, Date.parse(marker?.lastUsedAt ?? '') || 0) };
    });
    return read.filter((i): i is Listed => i !== null);
  }

  /** The scopes that hold entries in the project. */
  private async scopes(project: string): Promise<string[]> {
    const out: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.storage.listPrefixes('cache', layout.entriesPrefix(project), { pageToken });
      for (const p of page.prefixes) {
        const scope = layout.scopeOf(p);
        if (scope !== null) out.push(scope);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    return out;
  }

  private async *entriesBelow(prefix: KeyPrefix): AsyncGenerator<Listed> {
    for await (const o of this.objectsBelow(prefix)) {
      const k = layout.parseCacheKey(o.key);
      if (k?.kind !== 'entry') continue;
      yield { at: o.key, scope: k.scope, key: k.key, marked: false, createdMs: 0, usedMs: 0 };
    }
  }

  private async *objectsBelow(prefix: KeyPrefix) {
    let pageToken: string | undefined;
    do {
      const page = await this.storage.list('cache', prefix, { pageToken });
      yield* page.items;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
}

function listed(item: Listed): ListedEntry {
  return { ...publicEntry(item.entry!), lastUsedAt: new Date(item.usedMs).toISOString() };
}

function forbiddenScope(scope: string, what: 'list' | 'delete'): ForbiddenError {
  return new ForbiddenError(
    what === 'delete'
      ? `this token may not delete cache entries of scope ${JSON.stringify(scope)}: a pull-request job deletes only in its own scope`
      : `this token may not list cache entries of scope ${JSON.stringify(scope)}: a pull-request job lists only the scopes it restores from`,
  );
}

type Tuple = [number | string, string, string];

function sortValue(sort: Sort): (i: Listed) => number | string {
  switch (sort) {
    case 'created':
      return (i) => i.createdMs;
    case 'last-used':
      return (i) => i.usedMs;
    case 'size':
      return (i) => i.entry?.size ?? 0;
    case 'key':
      return (i) => i.key;
  }
}

/** Code-unit order, as keys sort in storage; never locale-dependent. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareTuples(a: Tuple, b: Tuple): number {
  for (let i = 0; i < 3; i++) {
    const x = a[i];
    const y = b[i];
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : compareStrings(String(x), String(y));
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * A page token: the last entry's position, and the query it belongs to. Opaque to clients; one
 * that does not decode, or comes from another query, is a 400.
 */
function makeToken(q: ListQuery, after: Tuple): string {
  return Buffer.from(JSON.stringify({ q: queryOf(q), after }), 'utf8').toString('base64url');
}

function parseToken(token: string, q: ListQuery): Tuple {
  const bad = () => new BadRequestError('pageToken is not one this listing issued (it belongs to the same filters, sort and order)', 'invalid_page_token');
  if (token.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: { q?: unknown; after?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw bad();
  }
  const after = parsed.after;
  if (
    parsed.q !== queryOf(q) ||
    !Array.isArray(after) ||
    after.length !== 3 ||
    !(typeof after[0] === 'number' || typeof after[0] === 'string') ||
    typeof after[1] !== 'string' ||
    typeof after[2] !== 'string'
  ) {
    throw bad();
  }
  return after as Tuple;
}

const queryOf = (q: ListQuery) => JSON.stringify([q.prefix ?? '', q.scope ?? null, q.sort, q.order]);
