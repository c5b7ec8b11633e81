/**
 * The list of a project's builds as the project's home page (JSON) and the builds API answer it:
 * the query both accept (`branch`, `pageSize`, `pageToken`, checked with a 400 that says what was
 * wrong) and the JSON shape of one build. One module, so the two never drift apart.
 */
import type { Context } from 'koa';
import { BadRequestError } from '../errors';
import { PAGE_SIZE_MAX, type BuildIndex, type BuildRow } from './builds';
import * as layout from './layout';
import type { ArtifactStore } from './store';

export interface BuildQuery {
  branch?: string;
  pageSize: number;
  pageToken?: string;
}

const DEFAULT_PAGE_SIZE = 20;

export function parseBuildQuery(ctx: Context): BuildQuery {
  const { branch, pageSize: sizeRaw, pageToken } = ctx.query;
  const pageSize = sizeRaw === undefined || sizeRaw === '' ? DEFAULT_PAGE_SIZE : Number(sizeRaw);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > PAGE_SIZE_MAX) {
    throw new BadRequestError(`pageSize must be a whole number from 1 to ${PAGE_SIZE_MAX}`);
  }
  if (pageToken !== undefined && (typeof pageToken !== 'string' || pageToken === '' || pageToken.length > 2048)) {
    throw new BadRequestError('pageToken must be the nextPageToken of the previous page');
  }
  return { branch: branch === undefined || branch === '' ? undefined : checkBranch(branch), pageSize, pageToken };
}

/** A branch name from a query or a URL, decoded: 400 unless it is one branch name a job could have. */
export function checkBranch(branch: unknown): string {
  if (typeof branch !== 'string') throw new BadRequestError('branch must be given once');
  if (branch === '' || /[\u0000-\u001f\u007f]/.test(branch) || !layout.branchIndexable(branch)) {
    throw new BadRequestError(`branch ${JSON.stringify(branch.slice(0, 300))} is not a branch name (1 to 255 encoded bytes, no control characters)`);
  }
  return branch;
}

/** One page of builds, newest first, with their summaries. */
export async function buildRows(store: ArtifactStore, project: string, query: BuildQuery): Promise<{ rows: BuildRow[]; nextPageToken?: string }> {
  const builds: BuildIndex = store.builds;
  const page = await builds.page(project, { branch: query.branch, limit: query.pageSize, pageToken: query.pageToken });
  const rows = await builds.withSummaries(project, page.items, (build, pageToken) => store.list(project, build, { limit: 1000, pageToken }));
  return { rows, nextPageToken: page.nextPageToken };
}

/** One build as JSON; `url(build, path)` makes the browse URL of a path in it ('' for the build). */
export function buildJson(row: BuildRow, url: (build: string, path: string) => string) {
  const s = row.summary;
  return {
    build: row.build,
    branch: row.branch,
    ...(row.commit ? { commit: row.commit } : {}),
    createdAt: row.createdAt,
    uploader: row.uploader,
    /** Kept by retention (ARTIFACT_RETENTION_DAYS and expire_in) until unpinned. */
    pinned: row.pinned,
    /** null until the build was first counted (a page view counts a bounded number of files). */
    files: s?.files ?? null,
    bytes: s?.bytes ?? null,
    /** False while a recount is pending or when the build has more files than one count covers. */
    countsComplete: row.current && s !== null && !s.truncated,
    url: url(row.build, ''),
    reports: (s?.reports ?? []).map((path) => ({ path, url: url(row.build, path) })),
  };
}
