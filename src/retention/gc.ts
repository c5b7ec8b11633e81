/**
 * Retention (`artifact-gateway gc`, or in-process every GC_INTERVAL_MINUTES), one module per
 * thing it collects:
 * - cache entries not restored for CACHE_TTL_DAYS, and least recently used ones above
 *   CACHE_QUOTA_BYTES per project (cache-expiry.ts);
 * - direct cache uploads never committed (cache-uploads.ts);
 * - artifacts older than ARTIFACT_RETENTION_DAYS, and the files of bundles that never committed
 *   (artifact-expiry.ts);
 * - objects no entry refers to, and restore-prefix index names whose entry is gone, once a day
 *   old (orphans.ts);
 * - what writes cut off by a crash left where no listing shows it (abandoned-writes.ts).
 * A bucket is walked one project at a time, and each project one prefix at a time, a page at a
 * time: memory holds one project's entries at most, whatever the bucket holds. It reads and
 * deletes only through the Storage interface, so it runs the same on fs and s3, and is
 * idempotent: two instances running it at once delete the same things, nothing more.
 */
import * as artifactLayout from '../artifacts/layout';
import * as cacheLayout from '../caches/layout';
import type { Config } from '../config';
import type { Logger } from '../http/logger';
import type { Storage } from '../storage/storage';
import { removeAbandonedWrites } from './abandoned-writes';
import { expireArtifacts } from './artifact-expiry';
import { expireCaches, type CacheVerdicts } from './cache-expiry';
import { abortAbandonedUploads } from './cache-uploads';
import { removeDanglingIndexNames, removeOrphanObjects } from './orphans';
import { prefixesBelow, type GcPass, type GcReport } from './pass';

export type { GcReport } from './pass';

export interface GcDeps {
  storage: Storage;
  config: Config;
  logger: Logger;
  now?: () => number;
  /** Items per listing page (tests make it small to prove the paging); storage's largest by default. */
  pageSize?: number;
}

export async function runGc(deps: GcDeps): Promise<GcReport> {
  const report: GcReport = {
    cacheExpired: 0,
    cacheEvicted: 0,
    artifactsExpired: 0,
    bundleFilesRemoved: 0,
    orphansRemoved: 0,
    uploadsAborted: 0,
    abandonedWritesRemoved: 0,
    bytesFreed: 0,
  };
  const pass: GcPass = {
    storage: deps.storage,
    config: deps.config,
    audit: deps.logger,
    now: (deps.now ?? Date.now)(),
    pageSize: deps.pageSize,
    report,
  };
  for await (const prefix of prefixesBelow(pass, 'cache', cacheLayout.PROJECTS)) {
    const project = cacheLayout.projectOf(prefix);
    if (project !== null) await collectCaches(pass, project);
  }
  for await (const prefix of prefixesBelow(pass, 'artifacts', artifactLayout.PROJECTS)) {
    const project = artifactLayout.projectOf(prefix);
    if (project !== null) await collectArtifacts(pass, project);
  }
  await removeAbandonedWrites(pass);
  return report;
}

/** The order matters: the orphan sweeps judge by what the entries and uploads still refer to. */
async function collectCaches(pass: GcPass, project: string): Promise<void> {
  const verdicts: CacheVerdicts = { referenced: new Set(), indexed: new Set(), unindexed: new Set() };
  await abortAbandonedUploads(pass, project, verdicts.referenced);
  await expireCaches(pass, project, verdicts);
  await removeOrphanObjects(pass, 'cache', cacheLayout.objectsPrefix(project), verdicts.referenced);
  await removeDanglingIndexNames(pass, project, verdicts.indexed, verdicts.unindexed);
}

async function collectArtifacts(pass: GcPass, project: string): Promise<void> {
  const live = new Set<string>();
  await expireArtifacts(pass, project, live);
  await removeOrphanObjects(pass, 'artifacts', artifactLayout.objectsPrefix(project), live);
}
