/**
 * Artifacts of one project older than ARTIFACT_RETENTION_DAYS: the entry, then its bytes. Each
 * expiry writes one audit line. The bytes of the entries that stay go to `live`, so the orphan
 * sweep leaves them alone.
 */
import * as layout from '../artifacts/layout';
import type { ArtifactEntry } from '../artifacts/store';
import { readEntry } from '../write-once';
import { DAY, objectsBelow, type GcPass } from './pass';

export async function expireArtifacts(pass: GcPass, project: string, live: Set<string>): Promise<void> {
  const { storage, report } = pass;
  for await (const o of objectsBelow(pass, 'artifacts', layout.buildsPrefix(project))) {
    if (layout.parseArtifactKey(o.key)?.kind !== 'entry') continue;
    const entry = await readEntry<ArtifactEntry>(storage, 'artifacts', o.key);
    if (!entry) continue;
    if (!(pass.now - Date.parse(entry.createdAt) > pass.config.artifactRetentionDays * DAY)) {
      live.add(entry.object);
      continue;
    }
    await storage.delete('artifacts', o.key);
    const object = layout.objectKeyIn(project, entry.object);
    if (object) await storage.delete('artifacts', object);
    report.artifactsExpired++;
    report.bytesFreed += entry.size;
    pass.audit.info({ audit: 'artifact.expire', what: { key: o.key, size: entry.size, createdAt: entry.createdAt } }, 'artifact expired');
  }
}
