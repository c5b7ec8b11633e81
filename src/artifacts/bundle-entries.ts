/**
 * The records that make a bundle's files visible all at once (bundle-publish.ts): each entry
 * of a bundle names it, and is visible only once the bundle's commit record, created create-only
 * and last, says committed. A failed bundle gets an `aborted` record: its entries are dead and
 * any writer may replace them. A bundle whose gateway died mid-publish has no record: after
 * BUNDLE_STALE_MS another writer aborts it (create-only, so it either wins or finds the bundle
 * committed). Records never change once written, so each is read once per process.
 */
import { ConflictError, StorageError } from '../errors';
import { createEntry, readEntry } from '../write-once';
import type { StorageKey } from '../storage/keys';
import type { Storage } from '../storage/storage';
import * as layout from './layout';
import type { ArtifactEntry, DeletedEntry } from './store';

/** Entries of a bundle without a record after this long are from a gateway that died publishing them. */
const BUNDLE_STALE_MS = 60 * 60_000;
const BUNDLE_STATES_MAX = 10_000;

export interface BundleRecord {
  state: 'committed' | 'aborted';
  files?: number;
  at: string;
}

export class BundleEntries {
  /** Bundle records seen, by their key. */
  private readonly states = new Map<string, BundleRecord['state']>();

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number,
  ) {}

  /** Writes the bundle's commit record; StorageError when another writer aborted it first. */
  async commit(project: string, build: string, id: string, files: number, at: string): Promise<void> {
    const key = layout.bundleKey(project, build, id)!;
    const record: BundleRecord = { state: 'committed', files, at };
    if (!(await createEntry(this.storage, 'artifacts', key, record))) {
      throw new StorageError(`bundle ${id} was aborted by another writer before it could commit (it took over ${BUNDLE_STALE_MS / 60_000} minutes)`);
    }
    this.remember(key, 'committed');
  }

  /** Records the bundle as aborted: its entries are dead from now on. */
  async abort(project: string, build: string, id: string): Promise<void> {
    const record: BundleRecord = { state: 'aborted', at: new Date(this.now()).toISOString() };
    await createEntry(this.storage, 'artifacts', layout.bundleKey(project, build, id)!, record);
  }

  /** Creates one entry of a bundle; 'unchanged' when the build already holds these bytes there. */
  async createEntry(project: string, build: string, entry: ArtifactEntry): Promise<'created' | 'unchanged'> {
    const key = layout.entryKey(project, build, entry.path);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await createEntry(this.storage, 'artifacts', key, entry)) return 'created';
      const existing = await this.readJson<ArtifactEntry | DeletedEntry>(key);
      if (!existing) continue; // deleted meanwhile: try again
      if ('deleted' in existing) {
        throw new ConflictError(
          `${entry.path} was deleted from build ${build}; a deleted path is not reused (artifacts are write-once), so nothing of the bundle was stored`,
          {
            path: entry.path,
            deleted: true,
          },
        );
      }
      const state = existing.bundle === undefined ? 'committed' : await this.state(project, build, existing.bundle, Date.parse(existing.createdAt));
      if (state === 'aborted') {
        // a dead entry of a failed bundle: replace it (create-only again, so one writer wins)
        await this.storage.delete('artifacts', key).catch(() => undefined);
        continue;
      }
      if (state === 'committed' && existing.sha256 === entry.sha256 && existing.size === entry.size) return 'unchanged';
      throw new ConflictError(
        state === 'committed'
          ? `${entry.path} already exists in build ${build} with other content; artifacts are write-once, so nothing of the bundle was stored`
          : `${entry.path} is being written to build ${build} by another bundle upload; nothing of this bundle was stored`,
        { path: entry.path, size: existing.size, sha256: existing.sha256 },
      );
    }
    throw new ConflictError(`${entry.path} kept changing in build ${build} while the bundle was stored; nothing of the bundle was stored`, {
      path: entry.path,
    });
  }

  /**
   * What a bundle's record says; 'pending' while there is none. With `since` (when its entries were
   * written), a bundle pending for longer than `staleMs` is aborted here, create-only: its
   * gateway died while publishing it.
   */
  async state(project: string, build: string, id: string, since?: number, staleMs = BUNDLE_STALE_MS): Promise<BundleRecord['state'] | 'pending'> {
    const key = layout.bundleKey(project, build, id);
    if (!key) return 'aborted'; // not a name this gateway makes: the entry was tampered with
    const known = this.states.get(key);
    if (known) return known;
    const record = await this.readJson<BundleRecord>(key);
    if (record) {
      this.remember(key, record.state);
      return record.state;
    }
    if (since !== undefined && this.now() - since > staleMs) {
      const aborted: BundleRecord = { state: 'aborted', at: new Date(this.now()).toISOString() };
      if (await createEntry(this.storage, 'artifacts', key, aborted)) {
        this.remember(key, 'aborted');
        return 'aborted';
      }
      return this.state(project, build, id);
    }
    return 'pending';
  }

  private remember(key: string, state: BundleRecord['state']): void {
    if (this.states.size >= BUNDLE_STATES_MAX) this.states.clear();
    this.states.set(key, state);
  }

  private readJson<T>(key: StorageKey): Promise<T | null> {
    return readEntry<T>(this.storage, 'artifacts', key);
  }
}
