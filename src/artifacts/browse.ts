/**
 * The project origin's own pages, before its files (ISOLATION=project only; with ISOLATION=build
 * an origin is one build, and `/` stays that build's index.html or listing):
 *
 *   /                           the project's home: its builds newest first, `?branch=`, paged
 *                               (HTML for browsers, JSON for scripts, chosen as errors are)
 *   /-/latest/<branch>/<path>   302 to the newest build on that branch that has <path>
 *
 * Build ids start with a letter or digit, so `/-/…` never names a build.
 */
import type { Middleware, ParameterizedContext } from 'koa';
import type { OriginState } from '../auth/viewer-session';
import type { Config } from '../config';
import { BadRequestError, NotFoundError } from '../errors';
import { compressGeneratedPage } from '../http/compression';
import { setLocation } from '../http/location';
import { mapLimit } from '../map-limit';
import { buildJson, buildRows, checkBranch, parseBuildQuery } from './build-list';
import { LATEST_WALK_MAX } from './builds';
import { renderHome } from './home-page';
import { decodePath, encodePath } from './paths';
import type { ArtifactStore } from './store';

const LATEST = '/-/latest/';
/** Builds looked at in parallel while walking a branch newest first. */
const LATEST_BATCH = 8;

export function projectPages({ config, store }: { config: Pick<Config, 'isolation'>; store: ArtifactStore }): Middleware<OriginState> {
  // a plain function in front: every file request passes here, and an async one costs a microtask hop
  return (ctx, next) => {
    if (config.isolation !== 'project' || ctx.state.build !== undefined) return next();
    if (ctx.path === '/') return home(ctx);
    if (ctx.path.startsWith(LATEST)) return latest(ctx);
    return next();
  };

  async function home(ctx: ParameterizedContext<OriginState>): Promise<void> {
    const { project, isPublic } = ctx.state;
    const query = parseBuildQuery(ctx);
    const { rows, nextPageToken } = await buildRows(store, project, query);
    const url = (build: string, path: string) => `/${encodeURIComponent(build)}/${encodePath(path)}`;
    const items = rows.map((row) => buildJson(row, url));
    ctx.set('Vary', 'Accept, Cookie');
    ctx.set('Cache-Control', isPublic ? 'public, max-age=30' : 'private, no-store');
    if (ctx.accepts('json', 'html') === 'html') {
      const params = new URLSearchParams();
      if (query.branch !== undefined) params.set('branch', query.branch);
      if (ctx.query.pageSize !== undefined) params.set('pageSize', String(query.pageSize));
      if (nextPageToken) params.set('pageToken', nextPageToken);
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = renderHome(project, items, { branch: query.branch, nextHref: nextPageToken ? `/?${params.toString()}` : undefined });
    } else {
      ctx.body = { project, items, nextPageToken: nextPageToken ?? null };
    }
    // a hundred builds make a page worth compressing; nginx leaves artifact origins to the gateway
    compressGeneratedPage(ctx);
  }

  async function latest(ctx: ParameterizedContext<OriginState>): Promise<void> {
    const rest = ctx.path.slice(LATEST.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new NotFoundError('latest links are /-/latest/<branch>/<path>, with the branch percent-encoded as one segment');
    const branch = checkBranch(decodeSegment(rest.slice(0, slash)));
    const rawPath = rest.slice(slash + 1);
    const isDir = rawPath === '' || rawPath.endsWith('/');
    const path = rawPath === '' ? '' : isDir ? decodePath(rawPath.slice(0, -1), 'artifact path') + '/' : decodePath(rawPath, 'artifact path');
    const build = await newestWith(ctx.state.project, branch, path, isDir);
    if (build === null) {
      throw new NotFoundError(`no build on branch ${JSON.stringify(branch)} has /${path}` + ` (looked at the branch's newest ${LATEST_WALK_MAX} builds)`);
    }
    ctx.set('Cache-Control', 'no-store');
    setLocation(ctx, `/${encodeURIComponent(build)}/${encodePath(path)}${ctx.querystring ? `?${ctx.querystring}` : ''}`, 302);
  }

  /**
   * The newest of the branch's newest LATEST_WALK_MAX builds that has `path`: one LIST of the
   * branch's newest-first names, then look-ups in batches, newest first, stopping at the first hit.
   */
  async function newestWith(project: string, branch: string, path: string, isDir: boolean): Promise<string | null> {
    const builds = await store.builds.newest(project, branch, LATEST_WALK_MAX);
    for (let i = 0; i < builds.length; i += LATEST_BATCH) {
      const batch = builds.slice(i, i + LATEST_BATCH);
      const found = await mapLimit(batch, LATEST_BATCH, async (name) => {
        const has = isDir ? await store.hasFilesBelow(project, name.build, path) : (await store.entry(project, name.build, path)) !== null;
        if (!has) return false;
        // a name counts only with its record (builds.ts): skips a crashed or losing writer's names
        const record = await store.builds.record(project, name.build);
        return record !== null && Date.parse(record.createdAt) === name.createdAtMs;
      });
      const hit = found.indexOf(true);
      if (hit !== -1) return batch[hit].build;
    }
    return null;
  }
}

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequestError('the branch in a latest link is not valid percent-encoding');
  }
}
