/**
 * Serving on an artifact origin, `https://<label>.<ARTIFACT_DOMAIN>/<build>/<path>`: the label
 * becomes a project (resolveOrigin), and serveArtifacts answers with a directory's index or
 * listing, an active file streamed inline with the isolation headers, a report's own subresource
 * streamed inline, or a 302 to a presigned URL for everything passive. The steps before it
 * (headers, method, sign-in) are in app.ts.
 */
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';
import type { OriginState } from '../auth/viewer-session';
import type { Config } from '../config';
import { classify, dispositionFor, isSameOriginSubresource, safeInline } from '../content-policy';
import { BadRequestError, MethodNotAllowedError, NotFoundError } from '../errors';
import { sendLocation, setLocation, toLocation, type Location } from '../http/location';
import { chooseCoding, codingEtag, compressGeneratedPage, encodeStream, negotiable } from '../http/compression';
import { requestedRange, sendLength } from '../http/ranges';
import { checkId } from '../ids';
import type { ByteRange, Storage } from '../storage/storage';
import { childrenOf, listingSort, renderListing } from './listing-page';
import { decodePath } from './paths';
import type { ArtifactEntry, ArtifactStore, LabelTarget } from './store';

const LISTING_MAX = 5000;
const PARSED_PATHS_MAX = 10_000;
const PARSED_PATH_MAX_CHARS = 512;

interface ParsedPath {
  build: string;
  /** Decoded and validated; '' or ending in '/' for a directory. */
  path: string;
  isDir: boolean;
}

// The middleware below answer the redirect path's every request, so where they have nothing to
// wait for they are plain functions, not async ones: each await is a promise and a microtask hop
// (bench figure 1 measures the sum).

/** Artifact origins serve GET and HEAD; everything else is 405 before any look-up. */
export const readOnly: Middleware = (ctx, next) => {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    throw new MethodNotAllowedError(`${ctx.method} is not allowed on an artifact origin; it serves GET and HEAD`);
  }
  return next();
};

/** The origin's label -> project (and build); 404 when nothing was ever published on it. */
export function resolveOrigin(store: ArtifactStore, config: Pick<Config, 'publicProjects'>): Middleware<OriginState> {
  const enter = (ctx: ParameterizedContext<OriginState>, target: LabelTarget | null, next: Next) => {
    if (!target) throw new NotFoundError('nothing has been published on this origin');
    ctx.state.project = target.project;
    ctx.state.build = target.build;
    ctx.state.isPublic = config.publicProjects.has(target.project);
    return next();
  };
  return (ctx, next) => {
    const known = store.knownLabel(ctx.state.label);
    if (known) return enter(ctx, known, next);
    return store.resolveLabel(ctx.state.label).then((target) => enter(ctx, target, next));
  };
}

export interface ServeDeps {
  config: Config;
  store: ArtifactStore;
  storage: Storage;
  now?: () => number;
}

export function serveArtifacts(deps: ServeDeps): Middleware<OriginState> {
  const { config, store, storage } = deps;
  const now = deps.now ?? Date.now;
  // One presigned URL per cached entry, reused for a tenth of PRESIGN_TTL (at most a minute): a
  // client always gets at least 90% of the TTL, and the redirect path signs once per entry and
  // window instead of once per request (bench figure 1: 116 -> 83 µs of CPU a redirect). It is
  // kept encoded for the Location header.
  const reuseMs = Math.min(config.presignTtlSeconds * 100, 60_000);
  const redirects = new WeakMap<ArtifactEntry, { location: Location; until: number }>();

  async function presignedLocation(project: string, entry: ArtifactEntry, at: number): Promise<Location> {
    const url = await storage.presignGet('artifacts', store.objectKey(project, entry), {
      expiresIn: config.presignTtlSeconds,
      responseContentType: entry.contentType,
      responseContentDisposition: dispositionFor(safeInline(entry.contentType) ? 'inline' : 'attachment', entry.path),
    });
    const location = toLocation(url);
    redirects.set(entry, { location, until: at + reuseMs });
    return location;
  }

  // Decoding and validating a request path was ~4% of a redirect (in-process profile), and the
  // same paths come again and again: a valid answer is kept per raw path. Bounded, and only for
  // short paths, so random paths cost at most a few MiB; what fails validation is never kept.
  const parsedPaths = new Map<string, ParsedPath>();
  function parsePath(rawPath: string, originBuild: string | undefined): ParsedPath | { redirectTo: string } {
    const key = originBuild === undefined ? rawPath : `${originBuild} ${rawPath}`;
    const known = parsedPaths.get(key);
    if (known) return known;
    const { build, rest, redirectTo } = splitPath(rawPath, originBuild, config.isolation);
    if (redirectTo !== undefined) return { redirectTo };
    const isDir = rest === '' || rest.endsWith('/');
    const path = isDir ? (rest === '' ? '' : decodePath(rest.slice(0, -1), 'artifact path') + '/') : decodePath(rest, 'artifact path');
    const result = { build, path, isDir };
    if (key.length <= PARSED_PATH_MAX_CHARS) {
      if (parsedPaths.size >= PARSED_PATHS_MAX) parsedPaths.clear();
      parsedPaths.set(key, result);
    }
    return result;
  }

  // a plain function: a file whose entry is cached is answered without an await
  return (ctx) => {
    const { project, isPublic } = ctx.state;
    // header names on the redirect path are lower-case: see http/location.ts
    ctx.set('vary', 'Cookie, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest');

    const parsed = parsePath(ctx.path, ctx.state.build);
    if ('redirectTo' in parsed) return setLocation(ctx, parsed.redirectTo + (ctx.querystring ? `?${ctx.querystring}` : ''), 301);
    const { build, path, isDir } = parsed;
    if (isDir) return sendDirectory(ctx, project, build, path, isPublic);
    const cached = store.cachedEntry(project, build, path);
    if (cached) return sendEntry(ctx, project, cached, isPublic);
    return sendUncached(ctx, project, build, path, isPublic);
  };

  async function sendUncached(ctx: Context, project: string, build: string, path: string, isPublic: boolean): Promise<void> {
    const entry = await store.entry(project, build, path);
    if (entry) return sendEntry(ctx, project, entry, isPublic);
    // a directory asked for without its slash: relative links inside need the slash
    if (await store.hasFilesBelow(project, build, `${path}/`)) return setLocation(ctx, `${ctx.path}/${ctx.querystring ? `?${ctx.querystring}` : ''}`, 301);
    throw new NotFoundError(`no artifact ${path} in build ${build}`);
  }

  async function sendDirectory(ctx: Context, project: string, build: string, path: string, isPublic: boolean): Promise<void> {
    const index = await store.entry(project, build, `${path}index.html`);
    if (index) return sendEntry(ctx, project, index, isPublic);
    return sendListing(ctx, project, build, path, isPublic);
  }

  /** A passive file is redirected (without an await while its URL is reused); the rest is streamed. */
  function sendEntry(ctx: Context, project: string, entry: ArtifactEntry, isPublic: boolean): void | Promise<void> {
    if (ctx.querystring !== '' && wantsDownload(ctx)) return sendDownload(ctx, project, entry, isPublic);
    // only passive files are ever presigned here, so a reused URL answers the classification too
    const reused = redirects.get(entry);
    const passive = reused !== undefined || classify(entry.contentType) === 'passive';
    const subresource =
      passive &&
      entry.size <= config.inlineMaxBytes &&
      isSameOriginSubresource({
        site: ctx.get('sec-fetch-site') || undefined,
        mode: ctx.get('sec-fetch-mode') || undefined,
        dest: ctx.get('sec-fetch-dest') || undefined,
      });
    if (!passive || subresource) return sendInline(ctx, project, entry, isPublic);
    ctx.set('cache-control', 'private, no-store');
    const at = now();
    if (reused && reused.until > at) return sendLocation(ctx, reused.location);
    return presignedLocation(project, entry, at).then((location) => sendLocation(ctx, location));
  }

  /**
   * `?download=1` (the listing's download links): the file as an attachment, whatever its type. A
   * passive file is a 302 to a URL presigned for it (not the reused inline one); active content
   * is streamed from the origin as ever, never from the bucket, with the attachment header.
   */
  async function sendDownload(ctx: Context, project: string, entry: ArtifactEntry, isPublic: boolean): Promise<void> {
    if (classify(entry.contentType) !== 'passive') return sendInline(ctx, project, entry, isPublic, 'attachment');
    const url = await store.attachmentUrl(project, entry, config.presignTtlSeconds);
    ctx.set('Cache-Control', 'private, no-store');
    setLocation(ctx, url);
  }

  /**
   * Streams a file from storage with its validators, in the coding the request accepts (text of
   * 1 KiB or more: brotli or gzip, on the fly; http/compression.ts has the rules). Conditionals
   * compare against the chosen coding's ETag; a Range is served from the identity bytes.
   */
  async function sendInline(ctx: Context, project: string, entry: ArtifactEntry, isPublic: boolean, disposition?: 'attachment'): Promise<void> {
    const coding = negotiable(entry.contentType, entry.size) ? chooseCoding(ctx) : 'identity';
    const etag = `"${entry.sha256}"`;
    ctx.status = 200;
    ctx.set('Content-Type', entry.contentType);
    if (disposition) ctx.set('Content-Disposition', dispositionFor(disposition, entry.path));
    ctx.set('ETag', codingEtag(etag, coding));
    ctx.lastModified = new Date(entry.createdAt);
    ctx.set('Cache-Control', isPublic ? 'public, max-age=300' : 'private, no-store');
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    let range: ByteRange | undefined;
    if (coding === 'identity') {
      ctx.set('Accept-Ranges', 'bytes');
      range = requestedRange(ctx, { size: entry.size, etag, lastModified: new Date(entry.createdAt) });
      if (range) ctx.status = 206;
      sendLength(ctx, entry.size, range);
    } else {
      ctx.set('Content-Encoding', coding); // no length: the compressed size is known only at the end
    }
    if (ctx.method === 'HEAD') return;
    const controller = new AbortController();
    // only when the client went away early: aborting costs an AbortError per response
    ctx.res.once('close', () => ctx.res.writableFinished || controller.abort());
    const read = await storage.read('artifacts', store.objectKey(project, entry), { range, signal: controller.signal });
    ctx.body = coding === 'identity' ? read.body : encodeStream(read.body, coding, entry.size);
  }

  async function sendListing(ctx: Context, project: string, build: string, dir: string, isPublic: boolean): Promise<void> {
    const sort = listingSort(ctx.query);
    const rows: Array<{ rel: string; size: number; contentType: string; createdAt: string }> = [];
    let pageToken: string | undefined;
    do {
      const page = await store.list(project, build, { dir, limit: 1000, pageToken });
      for (const e of page.items) rows.push({ rel: e.path.slice(dir.length), size: e.size, contentType: e.contentType, createdAt: e.createdAt });
      pageToken = page.nextPageToken;
    } while (pageToken && rows.length < LISTING_MAX);
    if (rows.length === 0) throw new NotFoundError(`no artifacts under ${dir || '/'} in build ${build}`);
    ctx.status = 200;
    ctx.set('Cache-Control', isPublic ? 'public, max-age=60' : 'private, no-store');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderListing(`${project} · build ${build} · /${dir}`, childrenOf(rows), pageToken !== undefined, sort);
    compressGeneratedPage(ctx);
  }
}

/** Whether `?download=1` asks for the file as an attachment; 400 for another value. */
function wantsDownload(ctx: Context): boolean {
  const value = ctx.query.download;
  if (value === undefined) return false;
  if (value !== '1') throw new BadRequestError('download must be 1 (download=1 answers the file as an attachment)');
  return true;
}

/** `/<build>/<rest>` (project isolation) or `/<rest>` (build isolation); rest still encoded. */
function splitPath(rawPath: string, originBuild: string | undefined, isolation: Config['isolation']): { build: string; rest: string; redirectTo?: string } {
  if (isolation === 'build' || originBuild !== undefined) {
    return { build: originBuild!, rest: rawPath.slice(1) };
  }
  const m = /^\/([^/]*)(\/.*)?$/.exec(rawPath);
  if (!m || m[1] === '') throw new NotFoundError('artifact URLs are /<build>/<path>');
  const build = checkId('build', safeDecode(m[1]));
  if (m[2] === undefined) return { build, rest: '', redirectTo: `${rawPath}/` };
  return { build, rest: m[2].slice(1) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequestError('the build in the URL is not valid percent-encoding');
  }
}
