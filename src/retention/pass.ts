/**
 * What every part of a gc pass shares: the clock it judges ages by, the report it adds to, and
 * the paged walks over storage. Nothing here holds more than one page of a listing: a bucket of
 * any size is walked project by project, and each project prefix by prefix.
 */
import type { Config } from '../config';
import type { Logger } from '../http/logger';
import type { KeyPrefix } from '../storage/keys';
import type { BucketName, ObjectInfo, Storage } from '../storage/storage';

export interface GcReport {
  cacheExpired: number;
  cacheEvicted: number;
  artifactsExpired: number;
  /** Files of bundles that never committed: aborted, or pending a day after they began. */
  bundleFilesRemoved: number;
  orphansRemoved: number;
  uploadsAborted: number;
  abandonedWritesRemoved: number;
  bytesFreed: number;
}

export interface GcPass {
  storage: Storage;
  config: Config;
  /** Each audit line names its event in `audit`. */
  audit: Logger;
  /** The pass's clock, in ms: one instant for the whole pass. */
  now: number;
  /** Items per listing page; storage's own largest page when absent. */
  pageSize?: number;
  report: GcReport;
}

export const DAY = 86_400_000;
/**
 * Objects younger than this are never orphans: an upload writes its object, then its entry
 * within the same request, and a save writes its index names before its entry. A day of grace
 * (by the storage's own clock) keeps gc away from writes still in flight.
 */
export const ORPHAN_GRACE_MS = DAY;

/** Every object below `prefix`, a page at a time. */
export async function* objectsBelow(pass: GcPass, bucket: BucketName, prefix: KeyPrefix): AsyncGenerator<ObjectInfo> {
  let pageToken: string | undefined;
  do {
    const page = await pass.storage.list(bucket, prefix, { limit: pass.pageSize, pageToken });
    yield* page.items;
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** The prefixes one level below `prefix`, a page at a time. */
export async function* prefixesBelow(pass: GcPass, bucket: BucketName, prefix: KeyPrefix): AsyncGenerator<KeyPrefix> {
  let pageToken: string | undefined;
  do {
    const page = await pass.storage.listPrefixes(bucket, prefix, { limit: pass.pageSize, pageToken });
    yield* page.prefixes;
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** Whether an object is older than the grace that protects writes in flight. */
export const pastGrace = (pass: GcPass, o: ObjectInfo): boolean => pass.now - o.lastModified.getTime() >= ORPHAN_GRACE_MS;
