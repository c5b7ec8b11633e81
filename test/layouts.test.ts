/**
 * The key layouts of both buckets are the on-bucket format: every stored artifact and cache is
 * found by them. These pin the exact keys, so a change that would orphan existing data fails
 * here, and prove that each parser reads back what its builders make, and nothing else.
 */
import * as artifacts from '../src/artifacts/layout';
import * as caches from '../src/caches/layout';
import { indexNames } from '../src/caches/prefix-index';
import { toStorageKey } from '../src/storage/keys';

const UUID = '0f8e1c1e-5b7a-4a53-9f0c-1d2e3f405162';

describe('the artifacts bucket layout', () => {
  it('builds the keys existing artifacts are stored under', () => {
    expect(artifacts.entryKey('acme/web', 'v1 rc', 'report/index.html')).toBe('p/acme%2Fweb/b/v1%20rc/f/report/index.html');
    expect(artifacts.entryPrefix('acme/web', '100')).toBe('p/acme%2Fweb/b/100/f/');
    expect(artifacts.entryPrefix('acme/web', '100', 'report/')).toBe('p/acme%2Fweb/b/100/f/report/');
    expect(artifacts.entryId('acme/web', '100', 'a.txt')).toBe(artifacts.entryKey('acme/web', '100', 'a.txt'));
    expect(artifacts.newObjectKey('acme/web')).toMatch(/^p\/acme%2Fweb\/o\/[0-9a-f-]{36}$/);
    expect(artifacts.labelKey('abc123')).toBe('labels/abc123');
    expect(artifacts.buildsPrefix('acme/web')).toBe('p/acme%2Fweb/b/');
    expect(artifacts.objectsPrefix('acme/web')).toBe('p/acme%2Fweb/o/');
  });

  it("builds a build's record, summary keys and newest-first names, and reads them back", () => {
    expect(artifacts.buildMetaKey('acme/web', '100', 'record')).toBe('p/acme%2Fweb/b/100/m/record');
    expect(artifacts.buildNamesPrefix('acme/web')).toBe('p/acme%2Fweb/n/a/');
    expect(artifacts.buildNamesPrefix('acme/web', 'feature/x')).toBe('p/acme%2Fweb/n/b/feature%2Fx/');
    const older = artifacts.buildName('acme/web', '100', 1_000, 'feature/x');
    const newer = artifacts.buildName('acme/web', '101', 2_000, 'feature/x');
    expect(older).toBe('p/acme%2Fweb/n/b/feature%2Fx/999999999998999/100');
    expect(newer < older).toBe(true);
    expect(artifacts.parseArtifactKey(older)).toEqual({ kind: 'build-name', project: 'acme/web', branch: 'feature/x', build: '100', createdAtMs: 1_000 });
    expect(artifacts.parseArtifactKey(artifacts.buildName('acme/web', '100', 5))).toEqual({
      kind: 'build-name',
      project: 'acme/web',
      build: '100',
      createdAtMs: 5,
    });
    expect(artifacts.parseArtifactKey('p/acme%2Fweb/b/100/m/summary')).toEqual({ kind: 'build-meta', project: 'acme/web', build: '100', name: 'summary' });
    // a build's record is not one of its entries: expiry and listings never take it for a file
    expect(artifacts.buildMetaKey('acme/web', '100', 'record').startsWith(artifacts.entryPrefix('acme/web', '100'))).toBe(false);
  });

  it('reads back what it builds', () => {
    expect(artifacts.parseArtifactKey(artifacts.entryKey('acme/web', 'v1 rc', 'a/b.txt'))).toEqual({
      kind: 'entry',
      project: 'acme/web',
      build: 'v1 rc',
      path: 'a/b.txt',
    });
    expect(artifacts.parseArtifactKey(`p/acme%2Fweb/o/${UUID}`)).toEqual({ kind: 'object', project: 'acme/web', id: UUID });
    expect(artifacts.parseArtifactKey('labels/abc123')).toEqual({ kind: 'label', label: 'abc123' });
    expect(artifacts.parseArtifactKey(artifacts.bundleKey('acme/web', 'v1 rc', UUID)!)).toEqual({
      kind: 'bundle',
      project: 'acme/web',
      build: 'v1 rc',
      id: UUID,
    });
    expect(artifacts.bundleKey('acme/web', '1', '../x')).toBeNull();
    expect(artifacts.projectOf(artifacts.projectPrefix('acme/web'))).toBe('acme/web');
  });

  it.each([
    'p/acme%2fweb/o/x',
    'p/a b/o/x',
    'p/%zz/o/x',
    'p/acme/o/x/y',
    'p/acme/x/1',
    'other/key',
    'p/acme/b/1/g/x',
    'p/acme/b/1/m/other',
    'p/acme/n/a/12/1',
    'p/acme/n/c/x/999999999998999/1',
  ])('refuses %j, a key it never makes', (key) => {
    expect(artifacts.parseArtifactKey(key)).toBeNull();
  });

  it("lets an entry name only its own project's bytes", () => {
    expect(artifacts.objectKeyIn('acme/web', `p/acme%2Fweb/o/${UUID}`)).toBe(`p/acme%2Fweb/o/${UUID}`);
    expect(artifacts.objectKeyIn('acme/web', `p/acme%2Fapi/o/${UUID}`)).toBeNull();
    expect(artifacts.objectKeyIn('acme/web', 'p/acme%2Fweb/b/1/f/x')).toBeNull();
  });
});

describe('the cache bucket layout', () => {
  it('builds the keys existing caches are stored under', () => {
    expect(caches.entryKey('acme/web', 'branch:main', 'deps-linux')).toBe('p/acme%2Fweb/s/branch%3Amain/k/deps-linux');
    expect(caches.usageKey('acme/web', 'branch:main', 'deps-linux')).toBe('p/acme%2Fweb/u/branch%3Amain/k/deps-linux');
    expect(caches.entryKeyPrefix('acme/web', 'branch:main', 'deps-')).toBe('p/acme%2Fweb/s/branch%3Amain/k/deps-');
    expect(caches.reservationKey('acme/web', UUID)).toBe(`p/acme%2Fweb/r/${UUID}`);
    expect(() => caches.reservationKey('acme/web', '../x')).toThrow('no such upload');
    // sha256('deps-') and 10^15 - 1 - createdAt, as the index has always named them
    expect(caches.indexName('acme/web', 'branch:main', 'deps-', 'deps-linux', 1_700_000_000_000)).toBe(
      'p/acme%2Fweb/n/branch%3Amain/b89b5c5fc05ec38ff8a6dc416c3b2d02/998299999999999/deps-linux',
    );
    expect(caches.indexPrefix('acme/web', 'branch:main', 'deps-')).toBe('p/acme%2Fweb/n/branch%3Amain/b89b5c5fc05ec38ff8a6dc416c3b2d02/');
  });

  it('reads back what it builds', () => {
    expect(caches.parseCacheKey(caches.entryKey('acme/web', 'branch:main', 'a/b'))).toEqual({
      kind: 'entry',
      project: 'acme/web',
      scope: 'branch:main',
      key: 'a/b',
    });
    expect(caches.parseCacheKey(caches.usageKey('acme/web', 'branch:main', 'k'))).toEqual({
      kind: 'usage',
      project: 'acme/web',
      scope: 'branch:main',
      key: 'k',
    });
    expect(caches.parseCacheKey(`p/acme%2Fweb/o/${UUID}`)).toEqual({ kind: 'object', project: 'acme/web', id: UUID });
    expect(caches.parseCacheKey(caches.reservationKey('acme/web', UUID))).toEqual({ kind: 'reservation', project: 'acme/web', uploadId: UUID });
    // a staged piece of an upload is an object of its project: the orphan sweep's to remove
    const piece = caches.pieceKey(toStorageKey(`p/acme%2Fweb/o/${UUID}`), 'b00ff');
    expect(piece).toBe(`p/acme%2Fweb/o/${UUID}.b00ff`);
    expect(caches.parseCacheKey(piece)).toEqual({ kind: 'object', project: 'acme/web', id: `${UUID}.b00ff` });
    expect(caches.piecesPrefix(toStorageKey(`p/acme%2Fweb/o/${UUID}`))).toBe(`p/acme%2Fweb/o/${UUID}.`);
    const [name] = indexNames('acme/web', 'branch:main', 'deps-linux', 1_700_000_000_000);
    expect(caches.parseCacheKey(name)).toEqual({
      kind: 'index',
      project: 'acme/web',
      scope: 'branch:main',
      key: 'deps-linux',
      createdAtMs: 1_700_000_000_000,
    });
    expect(caches.projectOf(caches.projectPrefix('acme/web'))).toBe('acme/web');
  });

  it.each(['p/acme/r/not-a-uuid', 'p/acme/s/scope/x/key', 'p/acme/n/scope/short/123/key', 'p/acme%2fweb/o/x', 'p/acme/z/x', 'labels/x'])(
    'refuses %j, a key it never makes',
    (key) => {
      expect(caches.parseCacheKey(key)).toBeNull();
    },
  );
});
