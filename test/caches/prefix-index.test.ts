/**
 * Restore-key prefixes through the newest-first index (src/caches/prefix-index.ts), on both
 * drivers: the lookup reads a handful of index names however many entries match, and falls back
 * to listing every match only where the index cannot answer.
 */
import { Readable } from 'node:stream';
import { indexedPrefixes, isIndexed, MAX_INDEXED_PREFIXES } from '../../src/caches/prefix-index';
import { CacheStore, type CacheWriter } from '../../src/caches/store';
import { createMetrics } from '../../src/http/metrics';
import { toKeyPrefix, type KeyPrefix } from '../../src/storage/keys';
import type { BucketName, ListOptions, Storage } from '../../src/storage/storage';
import { DRIVERS, makeDriver, type DriverHarness } from '../support/drivers';

const WRITER: CacheWriter = { subject: 'job', project: 'acme/web', branch: 'main', build: '1', trusted: true };
const SCOPE = 'branch:main';

describe('which prefixes are indexed', () => {
  it('indexes every prefix of a key that ends in a delimiter, the key itself included', () => {
    expect(indexedPrefixes('npm-linux-x64-abc')).toEqual(['npm-', 'npm-linux-', 'npm-linux-x64-']);
    expect(indexedPrefixes('v1/deps_py3.12:')).toEqual(['v1/', 'v1/deps_', 'v1/deps_py3.', 'v1/deps_py3.12:']);
    expect(indexedPrefixes('plain')).toEqual([]);
  });

  it(`indexes at most ${MAX_INDEXED_PREFIXES} prefixes, and lookups past them list instead`, () => {
    const long = 'a-'.repeat(40);
    expect(indexedPrefixes(long)).toHaveLength(MAX_INDEXED_PREFIXES);
    expect(isIndexed('a-'.repeat(MAX_INDEXED_PREFIXES))).toBe(true);
    expect(isIndexed('a-'.repeat(MAX_INDEXED_PREFIXES + 1))).toBe(false);
    expect(isIndexed('npm-linux')).toBe(false);
    expect(isIndexed('')).toBe(false);
  });
});

describe.each(DRIVERS)('restore-key prefix index on the %s driver', (driver) => {
  let h: DriverHarness;
  let listed: number;
  let counting: Storage;
  let clock: number;
  let store: CacheStore;
  let project: string;
  let n = 0;

  beforeAll(async () => {
    h = await makeDriver(driver, createMetrics());
    // counts the items every listing returns: what a lookup had to look at
    counting = Object.create(h.storage) as Storage;
    counting.list = async (bucket: BucketName, prefix: KeyPrefix, options?: ListOptions) => {
      const page = await h.storage.list(bucket, prefix, options);
      listed += page.items.length;
      return page;
    };
  });
  afterAll(() => h.cleanup());
  beforeEach(() => {
    project = `acme/index-${++n}`;
    clock = Date.now();
    store = new CacheStore(counting, () => clock);
  });

  const save = async (key: string) => {
    clock += 10;
    return store.save(project, SCOPE, key, Readable.from([Buffer.from(key)]), { contentLength: Buffer.byteLength(key), createdBy: WRITER });
  };
  const restore = async (...keys: string[]) => {
    listed = 0;
    return (await store.restore(project, [SCOPE], keys))?.entry.key;
  };
  const names = async () => (await h.storage.list('cache', toKeyPrefix(`p/${encodeURIComponent(project)}/n/`))).items.map((i) => i.key);

  it('finds the newest of many matches by reading a few index names, not every match', async () => {
    for (let i = 0; i < 40; i++) await save(`deps-linux-${String(i).padStart(3, '0')}`);
    await save('other-linux-1'); // newer, but not a match
    expect(await restore('deps-linux-missing', 'deps-linux-')).toBe('deps-linux-039');
    expect(listed).toBeLessThanOrEqual(10);
    // the same lookup without a delimiter at the end lists every match, and agrees
    expect(await restore('deps-linux-missing', 'deps-linux')).toBe('deps-linux-039');
    expect(listed).toBe(40);
  });

  it('skips a name whose entry is gone and answers the next newest', async () => {
    await save('deps-a');
    await save('deps-b');
    await h.storage.delete('cache', store.entryKey(project, SCOPE, 'deps-b'));
    expect(await restore('x', 'deps-')).toBe('deps-a');
  });

  it('finds entries that have no index names (saved before the index existed) by listing', async () => {
    await save('deps-old-1');
    await save('deps-old-2');
    for (const name of await names()) await h.storage.delete('cache', name);
    expect(await restore('x', 'deps-')).toBe('deps-old-2');
  });

  it('keeps the names of the winner only when two saves of a key race', async () => {
    // every save reads a later time: the loser's names differ from the winner's
    const racing = new CacheStore(counting, () => (clock += 7));
    const body = () => Readable.from([Buffer.from('x')]);
    const results = await Promise.allSettled([1, 2].map(() => racing.save(project, SCOPE, 'race-key', body(), { contentLength: 1, createdBy: WRITER })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const left = await names();
    expect(left).toHaveLength(indexedPrefixes('race-key').length);
    expect(await restore('x', 'race-')).toBe('race-key');
  });

  it('keeps scopes apart: a name in one scope never answers another', async () => {
    await store.save(project, 'untrusted:pull/1', 'deps-evil', Readable.from([Buffer.from('x')]), { contentLength: 1, createdBy: WRITER });
    expect(await restore('x', 'deps-')).toBeUndefined();
  });
});
