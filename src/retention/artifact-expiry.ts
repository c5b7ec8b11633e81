/**
 * Artifacts of one project older than ARTIFACT_RETENTION_DAYS: the entry, then its bytes. Each
 * expiry writes one audit line. The bytes of the entries that stay go to `live`, so the orphan
 * sweep leaves them alone.
 *
 * A build's record and summary (artifacts/builds.ts) sort after its entries (`m/` after `f/`), so
 * when the walk reaches the record it has seen every entry of the build: a build left with none,
 * whose record is past the retention period too, loses its record and its newest-first names
 * (the project's home page stops listing it); one that lost some entries loses its stored
 * summary, so the next page view counts it again.
 */
import * as layout from '../artifacts/layout';
import { namesOf, type BuildRecord } from '../artifacts/builds';
import type { ArtifactEntry } from '../artifacts/store';
import { readEntry } from '../write-once';
import { DAY, objectsBelow, type GcPass } from './pass';

export async function expireArtifacts(pass: GcPass, project: string, live: Set<string>): Promise<void> {
  const { storage, report } = pass;
  const retained = (createdAt: string) => !(pass.now - Date.parse(createdAt) > pass.config.artifactRetentionDays * DAY);
  // the build the walk is in, and what happened to its entries so far
  let build: { id: string; kept: number; expired: number } | undefined;
  for await (const o of objectsBelow(pass, 'artifacts', layout.buildsPrefix(project))) {
    const parsed = layout.parseArtifactKey(o.key);
    if (parsed?.kind !== 'entry' && parsed?.kind !== 'build-meta') continue;
    if (build?.id !== parsed.build) build = { id: parsed.build, kept: 0, expired: 0 };
    if (parsed.kind === 'build-meta') {
      if (parsed.name === 'record') await settleBuild(pass, project, parsed.build, build.kept, build.expired, retained);
      continue;
    }
    const entry = await readEntry<ArtifactEntry>(storage, 'artifacts', o.key);
    if (!entry) continue;
    if (retained(entry.createdAt)) {
      live.add(entry.object);
      build.kept++;
      continue;
    }
    await storage.delete('artifacts', o.key);
    const object = layout.objectKeyIn(project, entry.object);
    if (object) await storage.delete('artifacts', object);
    build.expired++;
    report.artifactsExpired++;
    report.bytesFreed += entry.size;
    pass.audit.info({ audit: 'artifact.expire', what: { key: o.key, size: entry.size, createdAt: entry.createdAt } }, 'artifact expired');
  }
}

async function settleBuild(
  pass: GcPass,
  project: string,
  build: string,
  kept: number,
  expired: number,
  retained: (createdAt: string) => boolean,
): Promise<void> {
  const { storage } = pass;
  if (kept > 0) {
    if (expired > 0) await storage.delete('artifacts', layout.buildMetaKey(project, build, 'summary'));
    return;
  }
  const record = await readEntry<BuildRecord>(storage, 'artifacts', layout.buildMetaKey(project, build, 'record'));
  // a young record without entries is a build whose first upload is in flight
  if (!record || retained(record.createdAt)) return;
  const keys = [...namesOf(project, record), layout.buildMetaKey(project, build, 'summary'), layout.buildMetaKey(project, build, 'touched')];
  // names first, the record last: a name without its record is skipped by every reader
  for (const key of keys) await storage.delete('artifacts', key);
  await storage.delete('artifacts', layout.buildMetaKey(project, build, 'record'));
}
