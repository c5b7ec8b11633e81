/**
 * What both APIs of the Actions cache service send: a key, restore keys, a version, a size.
 * The version is the client's sha256 of the cached paths, the compression and a salt
 * (@actions/cache internal/cacheUtils.ts getCacheVersion): entries are stored under
 * `actions/<version>/<key>`, so a key and every restore prefix only ever match within one
 * version, as on GitHub.
 */
import type { JobIdentity } from '../../auth/job-token';
import type { CacheWriter } from '../../caches/store';
import { BadRequestError, InvalidKeyError } from '../../errors';
import { MAX_SEGMENT_BYTES, toCacheKey } from '../../storage/keys';

/** The client sends at most 10 keys: the key and nine restore keys (cache.ts). */
export const MAX_KEYS = 10;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function cacheKey(value: unknown, what = 'key'): string {
  if (typeof value !== 'string') throw new BadRequestError(`${what} must be a string`, 'invalid_key');
  return toCacheKey(value);
}

export function restoreKeys(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((k) => typeof k === 'string')) throw new BadRequestError('restore_keys must be a list of strings');
  if (value.length > MAX_KEYS - 1) throw new BadRequestError(`at most ${MAX_KEYS} keys may be given (the key and ${MAX_KEYS - 1} restore keys)`);
  return value.map((k) => toCacheKey(k, { prefix: true }));
}

export function cacheVersion(value: unknown): string {
  if (typeof value !== 'string' || !VERSION.test(value)) {
    throw new BadRequestError('version must be the cache version the client computed (letters, digits, ".", "_", "-"; at most 128)');
  }
  return value;
}

/** A byte count: a JSON number, or an int64 as proto3 JSON writes it (a string of digits). */
export function byteCount(value: unknown, what: string): number {
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new BadRequestError(`${what} must be a byte count`);
  return n;
}

/** The key below the protocol's prefix: `<version>/<key>`. */
export function versioned(version: string, key: string): string {
  const k = `${version}/${key}`;
  // GitHub allows 512 characters without a '/'; storage keys allow no segment over 255 bytes
  for (const segment of k.split('/')) {
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
      throw new InvalidKeyError(`the cache key has a part between "/" longer than ${MAX_SEGMENT_BYTES} bytes, the gateway's limit`);
    }
  }
  return k;
}

export function writer(job: JobIdentity): CacheWriter {
  return { subject: job.subject, project: job.project, branch: job.branch, build: job.build, trusted: job.trusted };
}

/** Whether `job` is the job that started an upload: its URL and id are bound to it. */
export function sameJob(a: CacheWriter, job: JobIdentity): boolean {
  return a.subject === job.subject && a.build === job.build && a.project === job.project;
}
