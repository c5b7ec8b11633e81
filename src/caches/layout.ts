/**
 * The cache bucket's key layout: the one module that builds its keys and reads them back.
 * Per project and scope:
 *
 *   p/<project>/s/<scope>/k/<key>     entry JSON, created create-only: the first writer wins
 *   p/<project>/o/<uuid>              the archive bytes, written before the entry
 *   p/<project>/o/<uuid>.<piece>      one staged piece (a block, a chunk) of an upload whose archive
 *                                     will be p/<project>/o/<uuid>: an object to gc, an orphan once
 *                                     a day old (src/protocols/actions/uploads.ts)
 *   p/<project>/u/<scope>/k/<key>     last-used marker, rewritten (at most hourly) on restore
 *   p/<project>/r/<uploadId>          a direct upload in progress (reserve -> parts -> commit)
 *   p/<project>/n/<scope>/<sha256(prefix), 32 hex>/<inverted createdAt ms, 15 digits>/<key>
 *                                     newest-first names for restore-key prefixes (prefix-index.ts)
 *
 * <project> and <scope> are percent-encoded into one segment each; <key> is the cache key as it
 * is (already a valid key). Changing any of this orphans every stored cache: it is the on-bucket
 * format, not a detail.
 */
import { createHash, randomUUID } from 'node:crypto';
import { NotFoundError } from '../errors';
import { joinKey, joinPrefix, toKeyPrefix, toStorageKey, type KeyPrefix, type StorageKey } from '../storage/keys';
import { decodeSegment } from '../storage/segments';

const enc = encodeURIComponent;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME_DIGITS = 15;
const TIME_CEILING = 10 ** TIME_DIGITS - 1; // ms: year 33658

/** Every project's keys lie below this. */
export const PROJECTS = toKeyPrefix('p/');

export type CacheKey =
  | { kind: 'entry'; project: string; scope: string; key: string }
  | { kind: 'usage'; project: string; scope: string; key: string }
  | { kind: 'object'; project: string; id: string }
  | { kind: 'reservation'; project: string; uploadId: string }
  | { kind: 'index'; project: string; scope: string; key: string; createdAtMs: number };

/** The project that a prefix one level below PROJECTS (`p/<project>/`) stands for, or null. */
export function projectOf(prefix: string): string | null {
  const m = /^p\/([^/]+)\/$/.exec(prefix);
  return m ? decodeSegment(m[1]) : null;
}

/** The scope that a prefix one level below entriesPrefix(project) (`p/<project>/s/<scope>/`) stands for, or null. */
export function scopeOf(prefix: string): string | null {
  const m = /^p\/[^/]+\/s\/([^/]+)\/$/.exec(prefix);
  return m ? decodeSegment(m[1]) : null;
}

export const projectPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project));
export const entriesPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 's');
export const objectsPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'o');
export const usagePrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'u');
export const reservationsPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'r');
export const indexNamesPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'n');

export const entryKey = (project: string, scope: string, key: string): StorageKey => joinKey('p', enc(project), 's', enc(scope), 'k', key);

/** The entries of a scope whose key starts with `keyPrefix` (a plain string prefix). */
export const entryKeyPrefix = (project: string, scope: string, keyPrefix: string): KeyPrefix =>
  toKeyPrefix(`${joinPrefix('p', enc(project), 's', enc(scope), 'k')}${keyPrefix}`);

export const usageKey = (project: string, scope: string, key: string): StorageKey => joinKey('p', enc(project), 'u', enc(scope), 'k', key);

/** A fresh key for the bytes of one archive. */
export const newObjectKey = (project: string): StorageKey => joinKey('p', enc(project), 'o', randomUUID());

/** A staged piece of the archive `object` will hold (`piece`: letters, digits, '-', at most 160). */
export function pieceKey(object: StorageKey, piece: string): StorageKey {
  if (!/^[A-Za-z0-9-]{1,160}$/.test(piece)) throw new Error(`not a piece name: ${piece}`);
  return toStorageKey(`${object}.${piece}`);
}

/** Every staged piece of `object`. */
export const piecesPrefix = (object: StorageKey): KeyPrefix => toKeyPrefix(`${object}.`);

/** Upload ids are the gateway's own UUIDs: anything else names no upload (NotFoundError). */
export function reservationKey(project: string, uploadId: string): StorageKey {
  if (!UUID.test(uploadId)) throw new NotFoundError('no such upload');
  return joinKey('p', enc(project), 'r', uploadId);
}

/** Where the index names of one restore-key prefix live. */
export function indexPrefix(project: string, scope: string, prefix: string): KeyPrefix {
  const digest = createHash('sha256').update(prefix, 'utf8').digest('hex').slice(0, 32);
  return joinPrefix('p', enc(project), 'n', enc(scope), digest);
}

/** The index name of `key`, saved at `createdAtMs`, under one of its prefixes: newest sorts first. */
export function indexName(project: string, scope: string, prefix: string, key: string, createdAtMs: number): StorageKey {
  const inverted = String(TIME_CEILING - createdAtMs).padStart(TIME_DIGITS, '0');
  return joinKey(indexPrefix(project, scope, prefix).slice(0, -1), inverted, key);
}

/**
 * The storage key of the bytes an entry names (`entry.object`), or null unless it is one of
 * `project`'s objects: an entry, tampered with or not, never leads out of its own project.
 */
export function objectKeyIn(project: string, object: string): StorageKey | null {
  const parsed = parseCacheKey(object);
  return parsed?.kind === 'object' && parsed.project === project ? toStorageKey(object) : null;
}

/** What a key of the cache bucket stands for, or null for a key this layout never makes. */
export function parseCacheKey(name: string): CacheKey | null {
  const m = /^p\/([^/]+)\/([a-z])\/(.+)$/.exec(name);
  if (!m) return null;
  const project = decodeSegment(m[1]);
  if (project === null) return null;
  const rest = m[3];
  switch (m[2]) {
    case 's':
    case 'u': {
      const k = /^([^/]+)\/k\/(.+)$/.exec(rest);
      const scope = k && decodeSegment(k[1]);
      if (!k || scope === null) return null;
      return { kind: m[2] === 's' ? 'entry' : 'usage', project, scope, key: k[2] };
    }
    case 'o':
      return rest.includes('/') ? null : { kind: 'object', project, id: rest };
    case 'r':
      return UUID.test(rest) ? { kind: 'reservation', project, uploadId: rest } : null;
    case 'n': {
      const n = /^([^/]+)\/[0-9a-f]{32}\/(\d{15})\/(.+)$/.exec(rest);
      const scope = n && decodeSegment(n[1]);
      if (!n || scope === null) return null;
      return { kind: 'index', project, scope, key: n[3], createdAtMs: TIME_CEILING - Number(n[2]) };
    }
    default:
      return null;
  }
}
