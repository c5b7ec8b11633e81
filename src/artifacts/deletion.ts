/**
 * Deleting a build, or a file or directory of it (`DELETE` on the API, scope `artifacts:delete`).
 * What is deleted is gone from reads, listings, the zip, the project's home page, the builds API
 * and `/-/latest/` links at once on this instance, and within the entry cache's minute on others;
 * its bytes are deleted in the same request, not left to gc.
 *
 * Write-once holds across a deletion: a link to build 42's file must never show other bytes later.
 * - A deleted file's entry is replaced by a mark ({path, deleted}) that no reader shows and no
 *   upload replaces (409), so the path is not reused in that build; gc removes the marks with the
 *   build.
 * - A deleted build is marked first (`m/deleted`), then its newest-first names go (it leaves the
 *   home page and latest links), then its entries and bytes. Uploads check the mark before they
 *   store and again after their entry lands (store.ts), so an upload racing the deletion either
 *   is listed by it or withdraws itself: none survives in a deleted build. Its record and mark
 *   stay, so the id takes no new uploads until gc collects the build after ARTIFACT_RETENTION_DAYS.
 */
import { NotFoundError } from '../errors';
import { mapLimit } from '../map-limit';
import type { Storage } from '../storage/storage';
import { putJson } from '../write-once';
import { namesOf } from './builds';
import * as layout from './layout';
import { isDeletedEntry, type ArtifactEntry, type ArtifactStore, type DeletedEntry } from './store';

export interface Deleted {
  /** Files deleted. */
  files: number;
  /** Their bytes, freed. */
  bytes: number;
}

const CONCURRENCY = 16;
const PAGE = 1000;

export class ArtifactDeletion {
  constructor(
    private readonly store: ArtifactStore,
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
  ) {}

  /** Deletes the whole build. NotFoundError when it has no record and no file, or was deleted before. */
  async deleteBuild(project: string, build: string, by: string): Promise<Deleted & { pinned: boolean }> {
    const { builds } = this.store;
    if (await builds.isDeleted(project, build)) throw new NotFoundError(`build ${build} was already deleted`);
    const record = await builds.record(project, build);
    if (!record && !(await this.store.hasFilesBelow(project, build, ''))) throw new NotFoundError(`no build ${build} in project ${project}`);
    const pinned = await builds.isPinned(project, build);
    // the mark first: from here on no upload into the build survives (store.ts checks it twice)
    await builds.markDeleted(project, build, by);
    // then the names: the build leaves the home page, the builds API and latest links
    if (record) await Promise.all(namesOf(project, record).map((name) => this.storage.delete('artifacts', name)));
    const result: Deleted = { files: 0, bytes: 0 };
    let pageToken: string | undefined;
    do {
      // every entry, visible or not (expired, of a bundle never committed, a deleted file's mark)
      const page = await this.storage.list('artifacts', layout.entryPrefix(project, build), { limit: PAGE, pageToken });
      await mapLimit(page.items, CONCURRENCY, async (item) => {
        const parsed = layout.parseArtifactKey(item.key);
        if (parsed?.kind !== 'entry') return;
        const stored = await this.store.storedEntry(project, build, parsed.path);
        await this.storage.delete('artifacts', item.key);
        this.store.forget(project, build, parsed.path);
        if (stored && !isDeletedEntry(stored)) await this.freeBytes(project, stored, result);
      });
      pageToken = page.nextPageToken;
    } while (pageToken);
    for (const name of ['summary', 'touched', 'pinned'] as const) await this.storage.delete('artifacts', layout.buildMetaKey(project, build, name));
    return { ...result, pinned };
  }

  /**
   * Deletes the file at `path`, or with `dir` (or when no file is there) every visible file below
   * `path/`. NotFoundError when that is nothing.
   */
  async deletePath(project: string, build: string, path: string, by: string, options: { dir: boolean }): Promise<Deleted & { dir: boolean }> {
    if (await this.store.builds.isDeleted(project, build)) throw new NotFoundError(`build ${build} was deleted`);
    const result: Deleted = { files: 0, bytes: 0 };
    const mark: DeletedEntry['deleted'] = { at: new Date(this.now()).toISOString(), by };
    if (!options.dir) {
      const entry = await this.store.entry(project, build, path);
      if (entry) {
        await this.markDeleted(project, build, entry, mark, result);
        await this.store.builds.touchDeleted(project, build);
        return { ...result, dir: false };
      }
    }
    const dir = `${path}/`;
    let pageToken: string | undefined;
    do {
      const page = await this.store.list(project, build, { dir, limit: PAGE, pageToken });
      await mapLimit(page.items, CONCURRENCY, (entry) => this.markDeleted(project, build, entry, mark, result));
      pageToken = page.nextPageToken;
    } while (pageToken);
    if (result.files === 0) {
      throw new NotFoundError(options.dir ? `no files under ${dir} in build ${build}` : `no artifact ${path} in build ${build}, nor files under ${dir}`);
    }
    // the build's counts on the home page are stale now (builds.ts recounts a touched build)
    await this.store.builds.touchDeleted(project, build);
    return { ...result, dir: true };
  }

  private async markDeleted(project: string, build: string, entry: ArtifactEntry, mark: DeletedEntry['deleted'], result: Deleted): Promise<void> {
    // the mark replaces the entry (not create-only: deleting wins over what is there)
    await putJson(this.storage, 'artifacts', layout.entryKey(project, build, entry.path), { path: entry.path, deleted: mark } satisfies DeletedEntry);
    this.store.forget(project, build, entry.path);
    await this.freeBytes(project, entry, result);
  }

  private async freeBytes(project: string, entry: ArtifactEntry, result: Deleted): Promise<void> {
    const object = layout.objectKeyIn(project, entry.object);
    if (object) await this.storage.delete('artifacts', object);
    result.files++;
    result.bytes += entry.size;
  }
}
