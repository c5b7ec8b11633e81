/**
 * Artifacts of one project past their time: the entry, then its bytes. A file's time is its
 * upload's expire_in when it gave one (`never`: no time at all), else ARTIFACT_RETENTION_DAYS
 * after it was uploaded. A pinned build is skipped whole. Each expiry writes one audit line. The
 * bytes of the entries that stay go to `live`, so the orphan sweep leaves them alone.
 *
 * A build's meta objects (artifacts/builds.ts) sort after its entries (`m/` after `f/`), and its
 * record after the `deleted` and `pinned` marks, so when the walk reaches the record it has seen
 * every entry of the build. A build left with no file loses its record, names, marks and its
 * deleted files' marks (the project's home page stops listing it, and its id is free again) when
 * this pass expired its last files or its record is past ARTIFACT_RETENTION_DAYS; one that lost
 * some entries loses its stored summary, so the next page view counts it again.
 *
 * Files of a bundle that never committed are removed too, entry and bytes: a bundle recorded as
 * aborted (whose own clean-up failed), or one still without a record a day after it began, whose
 * gateway died while it arrived (its entries are written as the archive comes in). The day is the
 * grace every write in flight gets; the record gc writes for it is create-only, so a bundle that
 * commits at that moment keeps its files.
 */
import * as layout from '../artifacts/layout';
import { namesOf, type BuildRecord } from '../artifacts/builds';
import { BundleEntries } from '../artifacts/bundle-entries';
import { isDeletedEntry, type ArtifactEntry, type DeletedEntry } from '../artifacts/store';
import type { StorageKey } from '../storage/keys';
import { readEntry } from '../write-once';
import { DAY, objectsBelow, ORPHAN_GRACE_MS, type GcPass } from './pass';

interface BuildWalk {
  id: string;
  pinned: boolean;
  kept: number;
  expired: number;
  /** Marks of deleted files: they go when the build goes. */
  marks: StorageKey[];
}

export async function expireArtifacts(pass: GcPass, project: string, live: Set<string>): Promise<void> {
  const { storage, report } = pass;
  const pastRetention = (createdAt: string) => pass.now - Date.parse(createdAt) > pass.config.artifactRetentionDays * DAY;
  const bundles = new BundleEntries(storage, () => pass.now);
  let build: BuildWalk | undefined;
  for await (const o of objectsBelow(pass, 'artifacts', layout.buildsPrefix(project))) {
    const parsed = layout.parseArtifactKey(o.key);
    if (parsed?.kind !== 'entry' && parsed?.kind !== 'build-meta') continue;
    if (build?.id !== parsed.build) {
      // one stat per build: the pin covers every file of it, ARTIFACT_RETENTION_DAYS and expire_in alike
      const pinned = (await storage.stat('artifacts', layout.buildMetaKey(project, parsed.build, 'pinned'))) !== null;
      build = { id: parsed.build, pinned, kept: 0, expired: 0, marks: [] };
    }
    if (parsed.kind === 'build-meta') {
      if (parsed.name === 'record') await settleBuild(pass, project, build, pastRetention);
      continue;
    }
    const entry = await readEntry<ArtifactEntry | DeletedEntry>(storage, 'artifacts', o.key);
    if (!entry) continue;
    if (isDeletedEntry(entry)) {
      build.marks.push(o.key);
      continue;
    }
    if (entry.bundle !== undefined) {
      const state = await bundles.state(project, parsed.build, entry.bundle, Date.parse(entry.createdAt), ORPHAN_GRACE_MS);
      if (state === 'aborted') {
        await storage.delete('artifacts', o.key);
        const object = layout.objectKeyIn(project, entry.object);
        if (object) await storage.delete('artifacts', object);
        report.bundleFilesRemoved++;
        report.bytesFreed += entry.size;
        continue;
      }
    }
    const why = build.pinned ? null : expiry(entry, pass.now, pastRetention);
    if (why === null) {
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
    pass.audit.info(
      {
        audit: 'artifact.expire',
        why,
        what: { project, build: parsed.build, path: parsed.path, key: o.key, size: entry.size, createdAt: entry.createdAt, expiresAt: entry.expiresAt },
      },
      'artifact expired',
    );
  }
}

/** Why the file is due ('expire_in' or 'retention'), or null while it is kept. */
function expiry(entry: ArtifactEntry, now: number, pastRetention: (createdAt: string) => boolean): 'expire_in' | 'retention' | null {
  if (entry.expiresAt === null) return null;
  if (typeof entry.expiresAt === 'string') return Date.parse(entry.expiresAt) <= now ? 'expire_in' : null;
  return pastRetention(entry.createdAt) ? 'retention' : null;
}

async function settleBuild(pass: GcPass, project: string, build: BuildWalk, pastRetention: (createdAt: string) => boolean): Promise<void> {
  const { storage } = pass;
  if (build.kept > 0 || build.pinned) {
    if (build.expired > 0) await storage.delete('artifacts', layout.buildMetaKey(project, build.id, 'summary'));
    return;
  }
  const record = await readEntry<BuildRecord>(storage, 'artifacts', layout.buildMetaKey(project, build.id, 'record'));
  // a young record without entries is a build whose first upload is in flight, unless this pass
  // expired its files (expire_in), or it was deleted
  if (!record) return;
  if (build.expired === 0 && !pastRetention(record.createdAt)) return;
  const keys = [
    ...namesOf(project, record),
    ...build.marks,
    layout.buildMetaKey(project, build.id, 'summary'),
    layout.buildMetaKey(project, build.id, 'touched'),
  ];
  // names first, the record, then the deleted mark last: a name without its record is skipped by
  // every reader, and the build takes uploads again only once nothing of it is left
  for (const key of keys) await storage.delete('artifacts', key);
  await storage.delete('artifacts', layout.buildMetaKey(project, build.id, 'record'));
  await storage.delete('artifacts', layout.buildMetaKey(project, build.id, 'deleted'));
}
