/**
 * What no entry refers to, once it is past the grace that protects writes in flight: objects of
 * uploads that failed halfway or lost a write race, and restore-prefix index names of lost races,
 * crashed saves and entries an older gc deleted. Counted as orphansRemoved.
 */
import * as cacheLayout from '../caches/layout';
import type { KeyPrefix } from '../storage/keys';
import type { BucketName } from '../storage/storage';
import { objectsBelow, pastGrace, type GcPass } from './pass';

/** Deletes the objects below `prefix` (one project's bytes) that are not in `referenced`. */
export async function removeOrphanObjects(pass: GcPass, bucket: BucketName, prefix: KeyPrefix, referenced: Set<string>): Promise<void> {
  for await (const o of objectsBelow(pass, bucket, prefix)) {
    if (referenced.has(o.key) || !pastGrace(pass, o)) continue;
    await pass.storage.delete(bucket, o.key);
    pass.report.orphansRemoved++;
  }
}

/**
 * Deletes one project's index names that name no entry kept: neither in `indexed` (names of the
 * entries that stay) nor in `unindexed` (deleted with their entries in this pass, not to be
 * counted again).
 */
export async function removeDanglingIndexNames(pass: GcPass, project: string, indexed: Set<string>, unindexed: Set<string>): Promise<void> {
  for await (const o of objectsBelow(pass, 'cache', cacheLayout.indexNamesPrefix(project))) {
    if (indexed.has(o.key) || unindexed.has(o.key) || !pastGrace(pass, o)) continue;
    await pass.storage.delete('cache', o.key);
    pass.report.orphansRemoved++;
  }
}
