/**
 * Publishing a bundle while it arrives. Each file's entry (naming the bundle, so invisible) is
 * written as soon as its bytes are stored, not after the whole archive: the storage writes of a
 * 10,000-file bundle overlap its transfer, and the answer follows the archive's last byte with
 * only the commit record left to write. (Publishing after the archive kept a client waiting with
 * no byte coming back for as long as 10,000 entries took, which met the client's and nginx's
 * 120 s idle timeouts on a loaded machine.)
 *
 * All or nothing still: no entry is visible before the bundle's commit record, written
 * create-only and last (bundle-entries.ts). On any failure the bundle is recorded as aborted and
 * its entries and objects are deleted.
 */
import type { Readable } from 'node:stream';
import { ConflictError } from '../errors';
import type { StorageKey } from '../storage/keys';
import type { Storage } from '../storage/storage';
import type { BundleEntries } from './bundle-entries';
import * as layout from './layout';
import type { Published, StagedFile, Uploader } from './store';

/** What a publication needs from the store, for one project and build. */
export interface PublicationTarget {
  project: string;
  build: string;
  storage: Storage;
  bundles: BundleEntries;
  /** Refuses a deleted build, and records the build (and its origin label) before its first entry. */
  prepare(): Promise<void>;
  /** Refuses a build deleted meanwhile. */
  refuseDeletedBuild(): Promise<void>;
  /** Streams bytes into a fresh object, invisible until an entry names it. */
  stage(body: Readable, size: number): Promise<{ object: StorageKey; size: number; sha256: string }>;
  /** Whether the build shows a file at this path. */
  visible(path: string): Promise<boolean>;
  /** Tells the build's summary that its files changed. */
  touch(): Promise<void>;
  /** Deletes keys of the artifacts bucket: objects no entry will name, entries of a failed bundle (best effort). */
  discard(keys: readonly StorageKey[]): Promise<void>;
  now(): number;
}

export class BundlePublication {
  readonly id = layout.newBundleId();
  private readonly createdAt: string;
  /** The build's paths before this bundle, listed once at its first file. */
  private before?: Promise<BuildPaths>;
  /** Every object staged for this bundle, published or not. */
  private readonly objects: StorageKey[] = [];
  /** Entries this bundle created (and removes again if it fails). */
  private readonly written: StorageKey[] = [];
  /** Objects of files the build already held with the same bytes. */
  private readonly unused: StorageKey[] = [];
  private files = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly target: PublicationTarget,
    private readonly uploader: Uploader,
    private readonly expiresAt: string | null | undefined,
  ) {
    this.createdAt = new Date(target.now()).toISOString();
  }

  /** Stores one file's bytes in a fresh object that this bundle owns from now on. */
  async stage(body: Readable, size: number): Promise<{ object: StorageKey; size: number; sha256: string }> {
    this.refuseClosed();
    const staged = await this.target.stage(body, size);
    this.objects.push(staged.object);
    return staged;
  }

  /**
   * Writes a staged file's entry, invisible until commit; ConflictError (the whole bundle is
   * refused) when the build has the path with other bytes, as a directory, or below a file.
   */
  async add(file: StagedFile): Promise<void> {
    this.refuseClosed();
    const { project, build, bundles } = this.target;
    const before = await (this.before ??= this.target.prepare().then(() => BuildPaths.list(this.target)));
    await before.refuseConflict(file.path, (p) => this.target.visible(p));
    const expiry = this.expiresAt !== undefined ? { expiresAt: this.expiresAt } : {};
    const outcome = await bundles.createEntry(project, build, { ...file, createdAt: this.createdAt, uploader: this.uploader, bundle: this.id, ...expiry });
    if (outcome === 'created') this.written.push(layout.entryKey(project, build, file.path));
    else this.unused.push(file.object);
    this.files++;
  }

  /** Makes every added file visible at once; on failure nothing of the bundle shows. */
  async commit(): Promise<Published & { bundle: string }> {
    this.refuseClosed();
    const { project, build } = this.target;
    try {
      // as a single upload: a deletion of the build that began meanwhile wins
      await this.target.refuseDeletedBuild();
      await this.target.bundles.commit(project, build, this.id, this.files, this.createdAt);
      this.state = 'committed';
    } catch (err) {
      await this.abort();
      throw err;
    }
    // the build's counts are stale now (builds.ts recounts a touched build)
    await this.target.touch();
    await this.target.discard(this.unused);
    return { bundle: this.id, created: this.files - this.unused.length, unchanged: this.unused.length };
  }

  /**
   * Gives the bundle up: recorded as aborted (its entries are dead to every reader, and any
   * writer may replace one left behind), then its entries and objects deleted. Call only once no
   * stage() or add() is in flight.
   */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    const { project, build } = this.target;
    if (this.before) await this.target.bundles.abort(project, build, this.id).catch(() => undefined);
    // entries first: an entry never points at an object already gone
    await this.target.discard(this.written);
    await this.target.discard(this.objects);
  }

  private refuseClosed(): void {
    if (this.state !== 'open') throw new Error(`bundle ${this.id} is already ${this.state}`);
  }
}

/**
 * The paths a build held before a bundle, from one listing of its entries (not a request per
 * file): a bundle's file may not be where the build has a directory, nor below one of its files.
 */
class BuildPaths {
  private constructor(
    private readonly build: string,
    private readonly files: ReadonlySet<string>,
    /** directory -> a file below it */
    private readonly dirs: ReadonlyMap<string, string>,
  ) {}

  static async list(target: PublicationTarget): Promise<BuildPaths> {
    const files = new Set<string>();
    const dirs = new Map<string, string>();
    let pageToken: string | undefined;
    do {
      const page = await target.storage.list('artifacts', layout.entryPrefix(target.project, target.build, ''), { limit: 1000, pageToken });
      for (const item of page.items) {
        const parsed = layout.parseArtifactKey(item.key);
        if (parsed?.kind !== 'entry') continue;
        files.add(parsed.path);
        for (const dir of ancestors(parsed.path)) if (!dirs.has(dir)) dirs.set(dir, parsed.path);
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    return new BuildPaths(target.build, files, dirs);
  }

  /** Entries listed may be dead ones of a failed bundle: only visible ones conflict. */
  async refuseConflict(path: string, visible: (path: string) => Promise<boolean>): Promise<void> {
    if (this.files.size === 0) return;
    const below = this.dirs.get(path);
    if (below !== undefined && (await visible(below))) {
      throw new ConflictError(
        `${path} cannot be stored in build ${this.build}: it is a directory there (it holds ${below}), and a path cannot be both a file and a directory; nothing of the bundle was stored`,
        { path, directory: `${path}/` },
      );
    }
    for (const dir of ancestors(path)) {
      if (this.files.has(dir) && (await visible(dir))) {
        throw new ConflictError(
          `${path} cannot be stored in build ${this.build}: ${dir} is a file there, and a path cannot be both a file and a directory; nothing of the bundle was stored`,
          { path, file: dir },
        );
      }
    }
  }
}

/** 'a/b/c' -> ['a', 'a/b'] */
function ancestors(path: string): string[] {
  const segments = path.split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}
