/**
 * Artifacts in the artifacts bucket (where each key lives: layout.ts). Each file is two objects:
 * the bytes, written first, streamed; then its entry, small JSON {size, sha256, type, who…},
 * written create-only AFTER the bytes are complete. Labels say which project (and build) an
 * origin label serves (label-index.ts); a build's record, written before its first entry, is what the project's
 * home page lists (builds.ts).
 *
 * The entry is the commit point. Until it exists nothing is visible, so an upload cut off halfway
 * leaves only an unreferenced object (removed by gc), never a partial file. Create-only entries
 * make a path write-once per build, and give the sha256 computed while streaming a place to live
 * (S3 metadata must be sent before the body, when the hash is not known yet).
 *
 * A bundle (many files in one request) cannot commit with one entry, and writing thousands of
 * entries can fail halfway: its entries name the bundle and are visible only once its commit
 * record says so (bundle-entries.ts); they are written while the archive arrives (bundle-publish.ts).
 */
import type { Readable } from 'node:stream';
import { dispositionFor } from '../content-policy';
import { ConflictError, StorageError } from '../errors';
import { mapLimit } from '../map-limit';
import { createEntry, readEntry, writeHashed } from '../write-once';
import type { KeyPrefix, StorageKey } from '../storage/keys';
import type { ObjectInfo, Storage } from '../storage/storage';
import { BuildIndex } from './builds';
import { originLabel } from './labels';
import { BundleEntries } from './bundle-entries';
import { BundlePublication, type PublicationTarget } from './bundle-publish';
import { LabelIndex, type LabelTarget } from './label-index';
import { refuseFileDirConflict } from './path-conflicts';
import * as layout from './layout';

export interface Uploader {
  subject: string;
  project: string;
  build: string;
  branch: string;
  trusted: boolean;
}

export interface ArtifactEntry {
  path: string;
  /** Storage key of the bytes. */
  object: string;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: string;
  uploader: Uploader;
  /** Set for files of a bundle: visible only once that bundle's record says committed. */
  bundle?: string;
  /**
   * From the upload's expire_in: when the file expires (unseen from then, removed by gc), or null
   * for `never`. Absent: ARTIFACT_RETENTION_DAYS after createdAt. A pinned build keeps it anyway.
   */
  expiresAt?: string | null;
}

/**
 * What a deleted file's entry becomes (deletion.ts): never visible, and never replaced, so a
 * deleted path of a build is not reused with other bytes (write-once). gc removes it with the build.
 */
export interface DeletedEntry {
  path: string;
  deleted: { at: string; by: string };
}

export const isDeletedEntry = (e: ArtifactEntry | DeletedEntry): e is DeletedEntry => 'deleted' in e;

/** A file of a bundle whose bytes are stored (invisible, in a fresh object) and not yet published. */
export interface StagedFile {
  path: StorageKey;
  object: StorageKey;
  size: number;
  sha256: string;
  contentType: string;
}

export type { BundleRecord } from './bundle-entries';
export type { LabelTarget } from './label-index';

export interface Published {
  /** Files new in the build. */
  created: number;
  /** Files the build already held with identical bytes. */
  unchanged: number;
}

export type Isolation = 'project' | 'build';

/**
 * Entries are immutable, so caching them is safe; the TTL bounds how long a file deleted through
 * another instance lingers here (the instance that deletes it forgets it at once).
 */
const ENTRY_CACHE_MS = 60_000;
const ENTRY_CACHE_MAX = 10_000;
const DISCARD_CONCURRENCY = 16;

export class ArtifactStore {
  private readonly entries = new Map<string, { entry: ArtifactEntry; until: number }>();
  /** Which project (and build) each origin label serves (label-index.ts). */
  private readonly labels: LabelIndex;
  private readonly objectKeys = new WeakMap<ArtifactEntry, { project: string; key: StorageKey }>();
  /** Each project's builds: records, newest-first names, summaries (builds.ts). */
  readonly builds: BuildIndex;
  /** Bundles' commit records and entries (bundle-entries.ts). */
  private readonly bundles: BundleEntries;

  constructor(
    private readonly storage: Storage,
    private readonly isolation: Isolation,
    private readonly now: () => number = Date.now,
  ) {
    this.builds = new BuildIndex(storage, now);
    this.bundles = new BundleEntries(storage, now);
    this.labels = new LabelIndex(storage, now);
  }

  labelFor(project: string, build: string): string {
    return this.isolation === 'build' ? originLabel(project, build) : originLabel(project);
  }

  entryKey(project: string, build: string, path: string): StorageKey {
    return layout.entryKey(project, build, path);
  }

  entryPrefix(project: string, build: string, dir = ''): KeyPrefix {
    return layout.entryPrefix(project, build, dir);
  }

  /**
   * Streams `body` in and commits the entry. Resolves `created: false` when the same bytes were
   * already there (a safe retry); throws ConflictError when other bytes were.
   */
  async put(
    project: string,
    build: string,
    path: string,
    body: Readable,
    options: { contentLength: number; contentType: string; uploader: Uploader; commit?: string; expiresAt?: string | null },
  ): Promise<{ created: boolean; entry: ArtifactEntry }> {
    await this.prepareBuild(project, build, options.uploader, options.commit);
    await refuseFileDirConflict(this.storage, project, build, path); // cheap, before a byte is stored
    const object = layout.newObjectKey(project);
    const stored = await writeHashed(this.storage, 'artifacts', object, body, {
      contentLength: options.contentLength,
      contentType: options.contentType,
    });
    const entry: ArtifactEntry = {
      path,
      object,
      size: stored.size,
      sha256: stored.sha256,
      contentType: options.contentType,
      createdAt: new Date(this.now()).toISOString(),
      uploader: options.uploader,
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
    };
    const key = this.entryKey(project, build, path);
    // no clean-up when this throws: the entry may have landed with its answer lost on the way
    // back, and then deleting the object would leave a committed entry pointing at nothing (a
    // client's retry then gets 200 for it). gc removes the object a day later if no entry names it.
    const created = await createEntry(this.storage, 'artifacts', key, entry);
    if (created) {
      // a racing upload of `a` and `a/x` can pass the first check together: look again now that
      // this entry is visible, and withdraw it if the other one is there (both may withdraw;
      // never both stay)
      // and a deletion of the whole build that listed its entries before this one landed: it marked
      // the build first, so either it listed this entry or this check sees its mark
      try {
        await refuseFileDirConflict(this.storage, project, build, path);
        await this.refuseDeletedBuild(project, build);
      } catch (err) {
        this.entries.delete(key);
        await this.storage.delete('artifacts', key).catch(() => undefined);
        await this.storage.delete('artifacts', object).catch(() => undefined);
        throw err;
      }
      await this.builds.touch(project, build);
      return { created: true, entry };
    }
    await this.storage.delete('artifacts', object).catch(() => undefined);
    const existing = await this.entry(project, build, path);
    if (!existing) await this.refuseDeletedPath(project, build, path);
    if (existing && existing.sha256 === entry.sha256 && existing.size === entry.size) {
      // a retry: the first attempt may have committed and failed before its touch
      await this.builds.touch(project, build);
      return { created: false, entry: existing };
    }
    throw new ConflictError(`${path} already exists in build ${build} with other content; artifacts are write-once`, {
      path,
      size: existing?.size,
      sha256: existing?.sha256,
    });
  }

  /**
   * Before a build's first entry: refuses a deleted build, makes sure the origin label resolves,
   * and writes the build's record, so a build with files always has one (one stat per build and
   * instance; nothing once this process has seen the record).
   */
  private async prepareBuild(project: string, build: string, uploader: Uploader, commit: string | undefined): Promise<void> {
    await this.refuseDeletedBuild(project, build);
    await this.labels.ensure(this.labelFor(project, build), this.isolation === 'build' ? { project, build } : { project });
    const { subject, trusted, branch } = uploader;
    await this.builds.recordBuild(project, { build, branch, ...(commit ? { commit } : {}), uploader: { subject, trusted } });
  }

  /** 409 when the build was deleted: its paths are not reused (write-once), nor is its id until gc collects it. */
  async refuseDeletedBuild(project: string, build: string): Promise<void> {
    if (await this.builds.isDeleted(project, build)) {
      throw new ConflictError(`build ${build} was deleted; a deleted build takes no more uploads (use another build id)`, { build, deleted: true });
    }
  }

  /** 409 when the path held a file that was deleted (write-once: a deleted path is not reused). */
  private async refuseDeletedPath(project: string, build: string, path: string): Promise<void> {
    const stored = await this.storedEntry(project, build, path);
    if (stored && isDeletedEntry(stored)) {
      throw new ConflictError(`${path} was deleted from build ${build}; a deleted path is not reused (artifacts are write-once)`, { path, deleted: true });
    }
  }

  /** Streams one file of a bundle into a fresh object: stored, invisible until published. */
  private async stage(project: string, body: Readable, options: { contentLength: number }): Promise<{ object: StorageKey; size: number; sha256: string }> {
    const object = layout.newObjectKey(project);
    try {
      const stored = await writeHashed(this.storage, 'artifacts', object, body, { contentLength: options.contentLength });
      return { object, ...stored };
    } catch (err) {
      await this.storage.delete('artifacts', object).catch(() => undefined);
      throw err;
    }
  }

  /** Deletes what a failed or finished bundle leaves unused (best effort: gc removes what is left). */
  private async discard(keys: readonly StorageKey[]): Promise<void> {
    await mapLimit(keys, DISCARD_CONCURRENCY, (k) => this.storage.delete('artifacts', k).catch(() => undefined));
  }

  /**
   * Starts a bundle of files for a build: files are staged and added while the archive arrives,
   * and all become visible at its commit, or none (bundle-publish.ts).
   */
  beginBundle(project: string, build: string, uploader: Uploader, options: { commit?: string; expiresAt?: string | null } = {}): BundlePublication {
    const target: PublicationTarget = {
      project,
      build,
      storage: this.storage,
      bundles: this.bundles,
      prepare: () => this.prepareBuild(project, build, uploader, options.commit),
      refuseDeletedBuild: () => this.refuseDeletedBuild(project, build),
      stage: (body, size) => this.stage(project, body, { contentLength: size }),
      visible: async (path) => (await this.entry(project, build, path)) !== null,
      touch: () => this.builds.touch(project, build),
      discard: (keys) => this.discard(keys),
      now: this.now,
    };
    return new BundlePublication(target, uploader, options.expiresAt);
  }

  /** A presigned URL that downloads the file as an attachment (whatever its type), for `ttlSeconds`. */
  attachmentUrl(project: string, entry: ArtifactEntry, ttlSeconds: number): Promise<string> {
    return this.storage.presignGet('artifacts', this.objectKey(project, entry), {
      expiresIn: ttlSeconds,
      responseContentType: entry.contentType,
      responseContentDisposition: dispositionFor('attachment', entry.path),
    });
  }

  /** The storage key of an entry's bytes, re-validated: an entry can only point into its own project. */
  objectKey(project: string, entry: ArtifactEntry): StorageKey {
    // once per cached entry, not per request: every redirect asks (bench/, redirect path)
    const known = this.objectKeys.get(entry);
    if (known?.project === project) return known.key;
    const key = layout.objectKeyIn(project, entry.object);
    if (!key) throw new StorageError(`entry ${entry.path} points outside its project`);
    this.objectKeys.set(entry, { project, key });
    return key;
  }

  /**
   * The visible entry for a path, or null: none, deleted, of a bundle not committed, or expired
   * (expire_in passed; gc removes it later) in a build that is not pinned.
   */
  async entry(project: string, build: string, path: string, options: { remember?: boolean } = {}): Promise<ArtifactEntry | null> {
    const cached = this.cachedEntry(project, build, path);
    if (cached) return cached;
    const key = this.entryKey(project, build, path);
    const entry = await this.storedEntry(project, build, path);
    if (!entry || isDeletedEntry(entry)) return null;
    if (entry.bundle !== undefined && (await this.bundles.state(project, build, entry.bundle)) !== 'committed') return null;
    let until = this.now() + ENTRY_CACHE_MS;
    if (typeof entry.expiresAt === 'string') {
      const expiresAt = Date.parse(entry.expiresAt);
      if (expiresAt <= this.now()) {
        if (!(await this.builds.isPinned(project, build))) return null;
      } else {
        until = Math.min(until, expiresAt);
      }
    }
    if (options.remember === false) return entry;
    if (this.entries.size >= ENTRY_CACHE_MAX) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { entry, until });
    return entry;
  }

  /** What is stored at a path's entry key, visible or not (a deleted file's mark, a bundle's pending entry). */
  storedEntry(project: string, build: string, path: string): Promise<ArtifactEntry | DeletedEntry | null> {
    return readEntry<ArtifactEntry | DeletedEntry>(this.storage, 'artifacts', this.entryKey(project, build, path));
  }

  /** Drops a path from this process's entry cache (after deleting it); other instances drop it within ENTRY_CACHE_MS. */
  forget(project: string, build: string, path: string): void {
    this.entries.delete(layout.entryId(project, build, path));
  }

  /** Whether any visible file lies below `dir` ('' or ending in '/'); pages past deleted and expired ones. */
  async hasFilesBelow(project: string, build: string, dir: string): Promise<boolean> {
    let pageToken: string | undefined;
    let first = true;
    do {
      // one entry is the usual answer; only a directory of deleted files needs more
      const page = await this.list(project, build, { dir, limit: first ? 1 : 100, pageToken });
      if (page.items.length > 0) return true;
      pageToken = page.nextPageToken;
      first = false;
    } while (pageToken);
    return false;
  }

  /**
   * The entry for a path when it is in the cache, without a storage read; undefined otherwise.
   * Lets the redirect path answer without an await (a microtask hop per request, measured).
   */
  cachedEntry(project: string, build: string, path: string): ArtifactEntry | undefined {
    // looked up by the plain joined string: only keys that passed validation were ever put in the
    // cache, so a hit needs no second validation (a measured cost on the redirect path)
    const cached = this.entries.get(layout.entryId(project, build, path));
    return cached && cached.until > this.now() ? cached.entry : undefined;
  }

  /**
   * One page of entries below `dir` ('' or ending in '/'), with their contents read. `remember:
   * false` keeps them out of the entry cache: a walk of a whole build (the zip) would otherwise
   * fill it with 10,000 entries nobody asks for again, and push out the ones that are.
   */
  async list(
    project: string,
    build: string,
    options: { dir?: string; limit: number; pageToken?: string; remember?: boolean },
  ): Promise<{ items: ArtifactEntry[]; nextPageToken?: string }> {
    const page = await this.storage.list('artifacts', this.entryPrefix(project, build, options.dir), {
      limit: options.limit,
      pageToken: options.pageToken,
    });
    const items = await mapLimit(page.items, 16, async (item: ObjectInfo) => {
      const parsed = layout.parseArtifactKey(item.key);
      return parsed?.kind === 'entry' ? this.entry(project, build, parsed.path, { remember: options.remember }) : null;
    });
    return { items: items.filter((e): e is ArtifactEntry => e !== null), nextPageToken: page.nextPageToken };
  }

  /** Which project (and build) a label serves, or null when no artifact was ever uploaded for it. */
  resolveLabel(label: string): Promise<LabelTarget | null> {
    return this.labels.resolve(label);
  }

  /** A label already resolved in this process (labels never move), without a storage read. */
  knownLabel(label: string): LabelTarget | undefined {
    return this.labels.known(label);
  }
}
