/**
 * A project's builds, for its home page, the builds API and `/-/latest/` links (where each key
 * lives: layout.ts).
 *
 * Record: the first upload of a build writes, create-only, one small record (branch, commit,
 * time, uploader) from its job token, and before it two empty newest-first names (all builds, and
 * the build's branch) whose inverted-time prefix makes one LIST return the newest builds first, as
 * the caches' prefix index does (caches/prefix-index.ts). A name counts only when the record it
 * names exists with the same createdAt: the names of a writer that lost the race for the record,
 * or crashed before writing it, are skipped.
 *
 * Counters: storage has no compare-and-swap (only create-only writes), so counters updated on each
 * upload would lose increments when a CLI uploads 8 files at once, and a count kept per upload
 * would cost as many objects as the entries. So the summary (file count, bytes, reports) is
 * computed lazily, from a listing, when a page needs it, and stored. Each upload that adds a file
 * rewrites the build's `touched` marker (one small PUT); a summary records the marker's ETag seen
 * before its listing and is current while the marker still has that ETag. So a page view costs a
 * stat and a read per build, a settled build is listed once, and a build still uploading is
 * recounted at most once per SUMMARY_RETRY_MS per instance (in between its last summary is shown,
 * flagged as counting). One page view counts at most VIEW_BUDGET entries over all its builds
 * (builds it does not reach are counted by a later view), and builds larger than
 * SUMMARY_MAX_FILES are counted up to there and flagged, so no page view lists 10,000 files.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { mapLimit } from '../map-limit';
import type { StorageKey } from '../storage/keys';
import type { Storage } from '../storage/storage';
import { createEntry, putJson, readEntry } from '../write-once';
import * as layout from './layout';
import type { ArtifactEntry } from './store';

export interface BuildRecord {
  build: string;
  branch: string;
  commit?: string;
  createdAt: string;
  uploader: { subject: string; trusted: boolean };
}

export interface BuildSummary {
  files: number;
  bytes: number;
  /** The build's index.html files (its HTML reports), shortest paths first, at most REPORTS_MAX. */
  reports: string[];
  /** True when the build has more than SUMMARY_MAX_FILES files: the counts stop there. */
  truncated: boolean;
  /** The ETag of the touched marker when the listing began; the summary is current while it stays. */
  touched: string | null;
}

/** What the pinned and deleted markers hold: when, and who. */
export interface BuildMark {
  at: string;
  by: string;
}

export interface BuildRow extends BuildRecord {
  summary: BuildSummary | null;
  /** Pinned builds are kept by retention, whatever their files' age or expire_in. */
  pinned: boolean;
  /** False when files were added since the summary was computed (it is being recounted). */
  current: boolean;
}

export const PAGE_SIZE_MAX = 100;
/** How many of a branch's newest builds a `/-/latest/` link looks at. */
export const LATEST_WALK_MAX = 100;
/** A build is counted up to this many files (and flagged when it has more). */
const SUMMARY_MAX_FILES = 5_000;
/** Entries one page view may count, over all its builds. */
const VIEW_BUDGET = 5_000;
const SUMMARY_RETRY_MS = 30_000;
const REPORTS_MAX = 20;

export class BuildIndex {
  private readonly recorded = new Set<string>();
  private readonly recounting = new Map<string, number>();
  private readonly recording = new Map<string, Promise<void>>();
  /** Builds seen deleted: a deletion is final until gc collects the build, so a hit is kept. */
  private readonly deleted = new Set<string>();

  private readonly viewBudget: number;
  private readonly maxFiles: number;

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
    /** Tests make these small; the defaults are VIEW_BUDGET and SUMMARY_MAX_FILES. */
    limits: { viewBudget?: number; maxFiles?: number } = {},
  ) {
    this.viewBudget = limits.viewBudget ?? VIEW_BUDGET;
    this.maxFiles = limits.maxFiles ?? SUMMARY_MAX_FILES;
  }

  /** Writes the build's record and names unless they exist; on each upload, before its entry. */
  async recordBuild(project: string, record: Omit<BuildRecord, 'createdAt'>): Promise<void> {
    const id = `${project} ${record.build}`;
    if (this.recorded.has(id)) return;
    // the CLI uploads several files at once: one look-up per build and instance, not one each
    let pending = this.recording.get(id);
    if (!pending) {
      pending = this.writeRecord(project, record).finally(() => this.recording.delete(id));
      this.recording.set(id, pending);
    }
    await pending;
    if (this.recorded.size >= 10_000) this.recorded.clear();
    this.recorded.add(id);
  }

  private async writeRecord(project: string, record: Omit<BuildRecord, 'createdAt'>): Promise<void> {
    const recordKey = layout.buildMetaKey(project, record.build, 'record');
    if (await this.storage.stat('artifacts', recordKey)) return;
    const at = this.now();
    const names = namesOf(project, { ...record, createdAt: new Date(at).toISOString() });
    // names first: every record that exists is named; a name without its record is skipped
    await Promise.all(names.map((name) => this.storage.write('artifacts', name, Readable.from([Buffer.alloc(0)]), { contentLength: 0 })));
    if (await createEntry(this.storage, 'artifacts', recordKey, { ...record, createdAt: new Date(at).toISOString() })) return;
    // another upload (another job of this build, or another instance) recorded the build first:
    // withdraw the names that are not also the winner's (same time and branch make the same name)
    const winner = await this.record(project, record.build);
    const theirs = new Set<string>(winner ? namesOf(project, winner) : []);
    await Promise.all(names.filter((n) => !theirs.has(n)).map((n) => this.storage.delete('artifacts', n).catch(() => undefined)));
  }

  /**
   * After files were deleted: the summary is stale, and the next view recounts it at once (not
   * after SUMMARY_RETRY_MS, as for a build still uploading: deleted files must not be shown).
   */
  async touchDeleted(project: string, build: string): Promise<void> {
    this.recounting.delete(`${project} ${build}`);
    await this.storage.delete('artifacts', layout.buildMetaKey(project, build, 'summary'));
    await this.touch(project, build);
  }

  /** After an upload added a file: the build's summary is no longer current. */
  async touch(project: string, build: string): Promise<void> {
    await this.storage.write('artifacts', layout.buildMetaKey(project, build, 'touched'), Readable.from([randomUUID()]), {
      contentType: 'text/plain',
    });
  }

  /**
   * Pins (true) or unpins the build: retention (ARTIFACT_RETENTION_DAYS and expire_in) skips a
   * pinned build. Resolves whether it was pinned before.
   */
  async setPinned(project: string, build: string, pinned: boolean, by: string): Promise<boolean> {
    const key = layout.buildMetaKey(project, build, 'pinned');
    const before = (await this.storage.stat('artifacts', key)) !== null;
    if (pinned) await putJson(this.storage, 'artifacts', key, { at: new Date(this.now()).toISOString(), by } satisfies BuildMark);
    else await this.storage.delete('artifacts', key);
    return before;
  }

  async isPinned(project: string, build: string): Promise<boolean> {
    return (await this.storage.stat('artifacts', layout.buildMetaKey(project, build, 'pinned'))) !== null;
  }

  /** Marks the build deleted: from now on uploads into it are refused (store.ts). */
  async markDeleted(project: string, build: string, by: string): Promise<void> {
    await putJson(this.storage, 'artifacts', layout.buildMetaKey(project, build, 'deleted'), {
      at: new Date(this.now()).toISOString(),
      by,
    } satisfies BuildMark);
    this.deleted.add(`${project} ${build}`);
  }

  /** Whether the build was deleted (one stat, none once seen deleted in this process). */
  async isDeleted(project: string, build: string): Promise<boolean> {
    const id = `${project} ${build}`;
    if (this.deleted.has(id)) return true;
    if (!(await this.storage.stat('artifacts', layout.buildMetaKey(project, build, 'deleted')))) return false;
    if (this.deleted.size >= 10_000) this.deleted.clear();
    this.deleted.add(id);
    return true;
  }

  /** Forgets what this process knows of a build that gc collected (its id may be used again). */
  forget(project: string, build: string): void {
    this.deleted.delete(`${project} ${build}`);
    this.recorded.delete(`${project} ${build}`);
  }

  record(project: string, build: string): Promise<BuildRecord | null> {
    return readEntry<BuildRecord>(this.storage, 'artifacts', layout.buildMetaKey(project, build, 'record'));
  }

  /**
   * One page of the project's builds (or one branch's), newest first: one LIST of names, then a
   * record read per name. Throws BadRequestError for a page token this listing never gave out.
   */
  async page(project: string, options: { branch?: string; limit: number; pageToken?: string }): Promise<{ items: BuildRecord[]; nextPageToken?: string }> {
    if (options.branch !== undefined && !layout.branchIndexable(options.branch)) return { items: [] };
    const page = await this.storage.list('artifacts', layout.buildNamesPrefix(project, options.branch), {
      limit: options.limit,
      pageToken: options.pageToken,
    });
    const records = await mapLimit(page.items, 16, async (item) => {
      const name = layout.parseArtifactKey(item.key);
      if (name?.kind !== 'build-name') return null;
      const record = await this.record(project, name.build);
      return record && Date.parse(record.createdAt) === name.createdAtMs ? record : null;
    });
    return { items: records.filter((r): r is BuildRecord => r !== null), nextPageToken: page.nextPageToken };
  }

  /** The newest `limit` names of a branch's builds, newest first, unchecked (one LIST). */
  async newest(project: string, branch: string, limit: number): Promise<Array<{ build: string; createdAtMs: number }>> {
    const page = await this.storage.list('artifacts', layout.buildNamesPrefix(project, branch), { limit });
    const out: Array<{ build: string; createdAtMs: number }> = [];
    for (const item of page.items) {
      const name = layout.parseArtifactKey(item.key);
      if (name?.kind === 'build-name') out.push({ build: name.build, createdAtMs: name.createdAtMs });
    }
    return out;
  }

  /**
   * The records with their summaries. Current summaries are read (a stat and a read per build);
   * missing or stale ones are counted one build after another from a budget of VIEW_BUDGET
   * entries for the whole call, so one page view never lists more than that. A build the budget
   * does not reach shows its last summary, or none, flagged as not current; a later view counts
   * it. A stale build is recounted at most every SUMMARY_RETRY_MS per instance.
   */
  async withSummaries(project: string, records: BuildRecord[], list: (build: string, pageToken?: string) => Promise<ListedPage>): Promise<BuildRow[]> {
    const rows = await mapLimit(records, 8, async (record): Promise<BuildRow & { touchedEtag: string | null }> => {
      const [touched, stored, pinned] = await Promise.all([
        this.storage.stat('artifacts', layout.buildMetaKey(project, record.build, 'touched')),
        readEntry<BuildSummary>(this.storage, 'artifacts', layout.buildMetaKey(project, record.build, 'summary')),
        this.isPinned(project, record.build),
      ]);
      const etag = touched?.etag ?? null;
      return { ...record, summary: stored, pinned, current: stored !== null && stored.touched === etag, touchedEtag: etag };
    });
    let budget = this.viewBudget;
    for (const row of rows) {
      if (row.current) continue;
      const id = `${project} ${row.build}`;
      const last = this.recounting.get(id);
      if (row.summary && last !== undefined && this.now() - last < SUMMARY_RETRY_MS) continue;
      if (budget <= 0) continue;
      const { summary, complete } = await this.count(row.touchedEtag, Math.min(budget, this.maxFiles), (pageToken) => list(row.build, pageToken));
      budget -= summary.files;
      // cut short by what was left of the budget: not a count to keep or show
      if (!complete && summary.files < this.maxFiles) continue;
      if (this.recounting.size >= 10_000) this.recounting.clear();
      this.recounting.set(id, this.now());
      await this.storage.write('artifacts', layout.buildMetaKey(project, row.build, 'summary'), Readable.from([JSON.stringify(summary)]), {
        contentType: 'application/json',
      });
      row.summary = summary;
      row.current = true;
    }
    return rows.map(({ touchedEtag: _, ...row }) => row);
  }

  /** Counts up to `max` entries, a listing page at a time; `complete` when it saw them all. */
  private async count(
    touched: string | null,
    max: number,
    list: (pageToken?: string) => Promise<ListedPage>,
  ): Promise<{ summary: BuildSummary; complete: boolean }> {
    const summary: BuildSummary = { files: 0, bytes: 0, reports: [], truncated: false, touched };
    let pageToken: string | undefined;
    do {
      const page = await list(pageToken);
      for (const e of page.items) {
        summary.files++;
        summary.bytes += e.size;
        if (e.path === 'index.html' || e.path.endsWith('/index.html')) summary.reports.push(e.path);
      }
      pageToken = page.nextPageToken;
    } while (pageToken && summary.files < max);
    summary.truncated = pageToken !== undefined;
    summary.reports = summary.reports.sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0)).slice(0, REPORTS_MAX);
    return { summary, complete: pageToken === undefined };
  }
}

/** The newest-first names of a build: among all builds, and among its branch's. */
export function namesOf(project: string, record: BuildRecord): StorageKey[] {
  const at = Date.parse(record.createdAt);
  const names = [layout.buildName(project, record.build, at)];
  if (layout.branchIndexable(record.branch)) names.push(layout.buildName(project, record.build, at, record.branch));
  return names;
}

export interface ListedPage {
  items: ArtifactEntry[];
  nextPageToken?: string;
}
