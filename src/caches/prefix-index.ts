/**
 * The newest-first index behind restore-key prefix lookups.
 *
 * A restore key used as a prefix ("npm-linux-") can match thousands of entries, and finding the
 * newest by listing them all costs one S3 LIST per 1,000 matches (bench figure 4: ~250 ms for
 * 9,900). So a save also writes, for each prefix of its key that ends in a delimiter, one empty
 * object whose name sorts newest first (its layout is in layout.ts), and a lookup of such a
 * prefix lists the first few names under its hash and reads their entries. The index is written
 * before the entry (so every committed entry is indexed), and a name only counts when the entry
 * it names exists with the same createdAt (so names of lost races, of crashed saves and of
 * evicted entries are skipped; gc deletes them). Prefixes that do not end in
 * a delimiter, and entries saved before the index existed, are found by listing, as before.
 *
 * Restore keys in CI end in a delimiter by convention: GitHub's and CircleCI's documented
 * fallbacks are `npm-linux-`, `v1-deps-`; GitLab's fallback keys are whole keys.
 */
import type { StorageKey } from '../storage/keys';
import { indexName } from './layout';

const DELIMITERS = new Set(['-', '_', '.', '/', ':', '@', '+', '=', '~']);
/** Index names per key at most: a key with more delimiters is indexed by its first 32 prefixes. */
export const MAX_INDEXED_PREFIXES = 32;

/** The prefixes of `key` that a save indexes: each ending in a delimiter, the shortest 32. */
export function indexedPrefixes(key: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < key.length && out.length < MAX_INDEXED_PREFIXES; i++) {
    if (DELIMITERS.has(key[i])) out.push(key.slice(0, i + 1));
  }
  return out;
}

/** Whether every key starting with `prefix` has an index name under it. */
export function isIndexed(prefix: string): boolean {
  if (prefix === '' || !DELIMITERS.has(prefix[prefix.length - 1])) return false;
  let delimiters = 0;
  for (const c of prefix) if (DELIMITERS.has(c)) delimiters++;
  return delimiters <= MAX_INDEXED_PREFIXES;
}

/** Every index name of one entry. */
export function indexNames(project: string, scope: string, key: string, createdAtMs: number): StorageKey[] {
  return indexedPrefixes(key).map((p) => indexName(project, scope, p, key, createdAtMs));
}
