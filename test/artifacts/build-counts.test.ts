/**
 * How much a page of builds may count, on both drivers: the store's own build index (builds.ts)
 * with small limits over real storage, so the bounds are seen without thousands of uploads.
 */
import { Readable } from 'node:stream';
import { BuildIndex } from '../../src/artifacts/builds';
import { buildMetaKey } from '../../src/artifacts/layout';
import { ArtifactStore } from '../../src/artifacts/store';
import { createMetrics } from '../../src/http/metrics';
import { DRIVERS, makeDriver, type DriverHarness } from '../support/drivers';

describe.each(DRIVERS)('build counts on the %s driver', (driver) => {
  let harness: DriverHarness;
  let store: ArtifactStore;
  let clock: number;
  const now = () => clock;
  const put = (build: string, path: string) =>
    store.put('acme/web', build, path, Readable.from([Buffer.from('12345')]), {
      contentLength: 5,
      contentType: 'text/plain',
      uploader: { subject: 'ci', project: 'acme/web', build, branch: 'main', trusted: true },
    });

  beforeAll(async () => {
    harness = await makeDriver(driver, createMetrics());
    clock = Date.now();
    store = new ArtifactStore(harness.storage, 'project', now);
    // build 1: 4 files; build 2: 2 files; build 3: 1 file (newest first: 3, 2, 1)
    for (const [build, n] of [
      ['1', 4],
      ['2', 2],
      ['3', 1],
    ] as const) {
      for (let i = 0; i < n; i++) await put(build, `f${i}.txt`);
      clock += 1000;
    }
  });
  afterAll(async () => harness.cleanup());

  const rows = async (builds: BuildIndex) => {
    const page = await builds.page('acme/web', { limit: 10 });
    const out = await builds.withSummaries('acme/web', page.items, (build, pageToken) => store.list('acme/web', build, { limit: 2, pageToken }));
    return out.map((r) => [r.build, r.summary?.files ?? null, r.current, r.summary?.truncated ?? null]);
  };

  it('counts no more entries per call than its budget, and counts the builds it did not reach on a later call', async () => {
    const builds = new BuildIndex(harness.storage, now, { viewBudget: 4, maxFiles: 10 });
    // 3 (1 file) and 2 (2 files) fit in 4; build 1 (4 files) would need more than is left
    expect(await rows(builds)).toEqual([
      ['3', 1, true, false],
      ['2', 2, true, false],
      ['1', null, false, null],
    ]);
    expect(await rows(builds)).toEqual([
      ['3', 1, true, false],
      ['2', 2, true, false],
      ['1', 4, true, false],
    ]);
  });

  it('counts a build larger than its bound up to there, and says so', async () => {
    await harness.storage.delete('artifacts', buildMetaKey('acme/web', '1', 'summary'));
    const builds = new BuildIndex(harness.storage, now, { viewBudget: 100, maxFiles: 2 });
    // listed a page (2 entries) at a time: build 1 stops after its first page, flagged truncated
    expect((await rows(builds)).find((r) => r[0] === '1')).toEqual(['1', 2, true, true]);
  });

  it('records a build once when two instances take its first uploads at the same moment, from two jobs', async () => {
    const a = new ArtifactStore(harness.storage, 'project', now);
    const b = new ArtifactStore(harness.storage, 'project', now);
    const first = (s: ArtifactStore, subject: string, path: string) =>
      s.put('acme/web', '7', path, Readable.from([Buffer.from('x')]), {
        contentLength: 1,
        contentType: 'text/plain',
        uploader: { subject, project: 'acme/web', build: '7', branch: 'race', trusted: true },
      });
    await Promise.all([first(a, 'job-a', 'a.txt'), first(b, 'job-b', 'b.txt'), first(a, 'job-a', 'c.txt'), first(b, 'job-b', 'd.txt')]);
    const all = await a.builds.page('acme/web', { limit: 100 });
    expect(all.items.filter((r) => r.build === '7')).toHaveLength(1);
    const branch = await b.builds.page('acme/web', { branch: 'race', limit: 100 });
    expect(branch.items.map((r) => r.build)).toEqual(['7']);
    expect(['job-a', 'job-b']).toContain(branch.items[0].uploader.subject);
  });
});
