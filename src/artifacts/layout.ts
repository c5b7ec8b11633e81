/**
 * The artifacts bucket's key layout: the one module that builds its keys and reads them back.
 *
 *   p/<project>/o/<uuid>                      the bytes of a file, written first, streamed
 *   p/<project>/b/<build>/f/<path>            its entry (store.ts): the commit point
 *   p/<project>/b/<build>/u/<uuid>            a bundle's commit record (bundles.ts): entries that
 *                                             name a bundle are visible only once it says committed
 *   labels/<label>                            which project (and build) an origin label serves
 *   p/<project>/b/<build>/m/record            the build's record (builds.ts): branch, commit, time,
 *                                             uploader; created once, by the build's first upload
 *   p/<project>/b/<build>/m/touched           rewritten after each upload that adds a file; its ETag
 *                                             says whether the summary below is still current
 *   p/<project>/b/<build>/m/summary           file count, bytes and reports, computed lazily
 *   p/<project>/b/<build>/m/pinned            present while the build is pinned (retention skips it)
 *   p/<project>/b/<build>/m/deleted           the build was deleted (deletion.ts): uploads into it are
 *                                             refused; its record stays until gc collects it
 *   p/<project>/n/a/<inverted ms, 15 digits>/<build>
 *   p/<project>/n/b/<branch>/<inverted ms, 15 digits>/<build>
 *                                             newest-first names of builds, all and per branch
 *                                             (empty objects; the same pattern as the caches')
 *
 * <project>, <build> and <branch> are percent-encoded into one segment each; <path> is the artifact path as
 * it is (already a valid key). Changing any of this orphans every stored artifact: it is the
 * on-bucket format, not a detail.
 */
import { randomUUID } from 'node:crypto';
import { joinKey, joinPrefix, toKeyPrefix, toStorageKey, type KeyPrefix, type StorageKey } from '../storage/keys';
import { decodeSegment } from '../storage/segments';

const enc = encodeURIComponent;
const TIME_DIGITS = 15;
const TIME_CEILING = 10 ** TIME_DIGITS - 1; // ms: year 33658

/** The small objects kept per build beside its entries (`m/`; they sort after `f/`). */
export type BuildMetaName = 'record' | 'touched' | 'summary' | 'pinned' | 'deleted';

/** Every project's keys lie below this. */
export const PROJECTS = toKeyPrefix('p/');

export type ArtifactKey =
  | { kind: 'object'; project: string; id: string }
  | { kind: 'entry'; project: string; build: string; path: string }
  | { kind: 'bundle'; project: string; build: string; id: string }
  | { kind: 'label'; label: string }
  | { kind: 'build-meta'; project: string; build: string; name: BuildMetaName }
  | { kind: 'build-name'; project: string; branch?: string; build: string; createdAtMs: number };

/** The project that a prefix one level below PROJECTS (`p/<project>/`) stands for, or null. */
export function projectOf(prefix: string): string | null {
  const m = /^p\/([^/]+)\/$/.exec(prefix);
  return m ? decodeSegment(m[1]) : null;
}

export const projectPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project));
export const objectsPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'o');
export const buildsPrefix = (project: string): KeyPrefix => joinPrefix('p', enc(project), 'b');

/** A fresh key for the bytes of one upload. */
export const newObjectKey = (project: string): StorageKey => joinKey('p', enc(project), 'o', randomUUID());

export const entryKey = (project: string, build: string, path: string): StorageKey => joinKey('p', enc(project), 'b', enc(build), 'f', path);

/**
 * An entry's key as a plain string, not validated: for in-memory look-ups only (the store's entry
 * cache), where a hit needs no second validation. Never passed to storage.
 */
export const entryId = (project: string, build: string, path: string): string => `p/${enc(project)}/b/${enc(build)}/f/${path}`;

/** A build's own keys: its entries, bundle records and meta objects (what deleting the build walks). */
export const buildPrefix = (project: string, build: string): KeyPrefix => joinPrefix('p', enc(project), 'b', enc(build));

/** The entries of a build below `dir` ('' or a directory path ending in '/'). */
export function entryPrefix(project: string, build: string, dir = ''): KeyPrefix {
  const files = joinPrefix('p', enc(project), 'b', enc(build), 'f');
  return dir === '' ? files : toKeyPrefix(`${files}${dir}`);
}

/** The build's record, touched marker and summary (builds.ts), and its pinned and deleted markers. */
export const buildMetaKey = (project: string, build: string, name: BuildMetaName): StorageKey => joinKey('p', enc(project), 'b', enc(build), 'm', name);

/** Newest-first names of a project's builds: all of them, or one branch's. */
export const buildNamesPrefix = (project: string, branch?: string): KeyPrefix =>
  branch === undefined ? joinPrefix('p', enc(project), 'n', 'a') : joinPrefix('p', enc(project), 'n', 'b', enc(branch));

/** Whether a branch fits in a key segment of the newest-first names (otherwise it has no per-branch names). */
export const branchIndexable = (branch: string): boolean => branch !== '' && Buffer.byteLength(enc(branch)) <= 255;

/** The newest-first name of `build`, created at `createdAtMs`, in the list of all builds or of one branch. */
export function buildName(project: string, build: string, createdAtMs: number, branch?: string): StorageKey {
  const inverted = String(TIME_CEILING - createdAtMs).padStart(TIME_DIGITS, '0');
  return joinKey(buildNamesPrefix(project, branch).slice(0, -1), inverted, enc(build));
}

/** A fresh id for one bundle upload. */
export const newBundleId = (): string => randomUUID();

/** The commit record of a bundle; `id` is a UUID (checked: entries name it, and entries may be tampered with). */
export function bundleKey(project: string, build: string, id: string): StorageKey | null {
  return /^[0-9a-f-]{36}$/.test(id) ? joinKey('p', enc(project), 'b', enc(build), 'u', id) : null;
}

export const labelKey = (label: string): StorageKey => joinKey('labels', label);

/**
 * The storage key of the bytes an entry names (`entry.object`), or null unless it is one of
 * `project`'s objects: an entry, tampered with or not, never leads out of its own project.
 */
export function objectKeyIn(project: string, object: string): StorageKey | null {
  const parsed = parseArtifactKey(object);
  return parsed?.kind === 'object' && parsed.project === project ? toStorageKey(object) : null;
}

/** What a key of the artifacts bucket stands for, or null for a key this layout never makes. */
export function parseArtifactKey(key: string): ArtifactKey | null {
  const label = /^labels\/([^/]+)$/.exec(key);
  if (label) return { kind: 'label', label: label[1] };
  const object = /^p\/([^/]+)\/o\/([^/]+)$/.exec(key);
  if (object) {
    const project = decodeSegment(object[1]);
    return project === null ? null : { kind: 'object', project, id: object[2] };
  }
  const meta = /^p\/([^/]+)\/b\/([^/]+)\/m\/(record|touched|summary|pinned|deleted)$/.exec(key);
  if (meta) {
    const project = decodeSegment(meta[1]);
    const build = decodeSegment(meta[2]);
    return project === null || build === null ? null : { kind: 'build-meta', project, build, name: meta[3] as BuildMetaName };
  }
  const name = /^p\/([^/]+)\/n\/(?:a|b\/([^/]+))\/(\d{15})\/([^/]+)$/.exec(key);
  if (name) {
    const project = decodeSegment(name[1]);
    const branch = name[2] === undefined ? undefined : decodeSegment(name[2]);
    const build = decodeSegment(name[4]);
    if (project === null || build === null || branch === null) return null;
    return { kind: 'build-name', project, ...(branch === undefined ? {} : { branch }), build, createdAtMs: TIME_CEILING - Number(name[3]) };
  }
  const bundle = /^p\/([^/]+)\/b\/([^/]+)\/u\/([^/]+)$/.exec(key);
  if (bundle) {
    const project = decodeSegment(bundle[1]);
    const build = decodeSegment(bundle[2]);
    return project === null || build === null ? null : { kind: 'bundle', project, build, id: bundle[3] };
  }
  const entry = /^p\/([^/]+)\/b\/([^/]+)\/f\/(.+)$/.exec(key);
  if (entry) {
    const project = decodeSegment(entry[1]);
    const build = decodeSegment(entry[2]);
    return project === null || build === null ? null : { kind: 'entry', project, build, path: entry[3] };
  }
  return null;
}
