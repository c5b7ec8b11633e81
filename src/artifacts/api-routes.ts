/**
 * The artifacts API on the API host (token-authenticated JSON):
 *   PUT  /api/v1/projects/{project}/builds/{build}/artifacts/{path}   upload (streamed, write-once)
 *   POST /api/v1/projects/{project}/builds/{build}/artifacts?bundle=tar   upload a tar of many files, all or nothing
 *   GET  /api/v1/projects/{project}/builds/{build}/artifacts          list (paged), or ?archive=zip[&prefix=dir/]: a zip (zip-archive.ts)
 *   GET  /api/v1/projects/{project}/builds/{build}/artifacts/{path}   302 to a presigned download
 *   GET  /api/v1/projects/{project}/builds                             the project's builds, newest first (paged, ?branch=)
 * Uploads take `?expire_in=` (GitLab's durations, expire-in.ts). Deleting and pinning: build-admin-routes.ts.
 * Nothing renders on the API host: downloads are always `attachment`.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type TokenVerifier } from '../auth/job-token';
import type { Config } from '../config';
import { contentTypeFor, dispositionFor } from '../content-policy';
import { BadRequestError, NotFoundError } from '../errors';
import { BundleCut, receiveBundle } from './bundle-archive';
import { declaredLength } from '../http/body';
import type { HostResolver } from '../hosts';
import { setLocation } from '../http/location';
import type { Logger } from '../http/logger';
import type { RequestState } from '../http/request-context';
import { checkId } from '../ids';
import type { Storage } from '../storage/storage';
import { buildJson, buildRows, parseBuildQuery } from './build-list';
import { decodePath, encodePath } from './paths';
import type { ArtifactEntry, ArtifactStore } from './store';
import { pathParam } from '../http/params';
import { refuseEscapes, toStorageKey } from '../storage/keys';
import { expiresAtFor } from './expire-in';
import { zipBuild, zipName } from './zip-archive';

export interface ArtifactApiDeps {
  /** The clock expire_in counts from. */
  now?: () => number;
  config: Config;
  store: ArtifactStore;
  storage: Storage;
  tokens: TokenVerifier;
  hosts: HostResolver;
  audit: Logger;
}

const PREFIX = '/api/v1/projects/:project/builds/:build/artifacts';
// a media type as RFC 9110 spells it, with optional parameters
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i;
// what clients send when they did not choose a type: then the file name decides
const UNCHOSEN = new Set(['application/octet-stream', 'application/x-www-form-urlencoded']);
const BUNDLE_TYPES = new Set(['application/x-tar', 'application/octet-stream', '']);

function ids(ctx: Context): { project: string; build: string } {
  return {
    project: checkId('project', pathParam(ctx, 'project')),
    build: checkId('build', pathParam(ctx, 'build')),
  };
}

/** The path part after /artifacts/, still percent-encoded, straight from the request line. */
// anchored on the route's own segments: a project or build named "artifacts" must not move it
const ARTIFACT_PATH = /^\/api\/v1\/projects\/[^/]+\/builds\/[^/]+\/artifacts\/(.*)$/;

function rawArtifactPath(ctx: Context): string {
  return ARTIFACT_PATH.exec(ctx.path)?.[1] ?? '';
}

export function artifactApiRoutes(deps: ArtifactApiDeps): Router<RequestState> {
  const { config, store, storage, tokens, hosts, audit } = deps;
  const now = deps.now ?? Date.now;
  const router = new Router<RequestState>();

  const browseUrl = (project: string, build: string, path: string) => {
    const origin = hosts.artifactOrigin(store.labelFor(project, build));
    return config.isolation === 'build' ? `${origin}/${encodePath(path)}` : `${origin}/${encodeURIComponent(build)}/${encodePath(path)}`;
  };
  const item = (project: string, build: string, e: ArtifactEntry) => ({
    path: e.path,
    size: e.size,
    contentType: e.contentType,
    sha256: e.sha256,
    createdAt: e.createdAt,
    ...(e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}),
    url: browseUrl(project, build, e.path),
  });

  /** `?archive=zip[&prefix=dir/]`: the build, or a directory of it, as one streamed zip. */
  const sendZip = async (ctx: Context, project: string, build: string) => {
    if (ctx.query.archive !== 'zip') throw new BadRequestError('archive must be zip (the one archive format the API streams)');
    const prefix = ctx.query.prefix;
    if (prefix !== undefined && typeof prefix !== 'string') throw new BadRequestError('prefix must be given once');
    let dir = '';
    if (prefix !== undefined && prefix !== '' && prefix !== '/') {
      // the query is decoded once already: validated as a stored path is, never decoded again
      const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
      refuseEscapes(trimmed, 'prefix');
      dir = `${toStorageKey(trimmed, 'prefix')}/`;
    }
    const body = await zipBuild(store, storage, project, build, dir);
    ctx.set('Cache-Control', 'private, no-store');
    ctx.set('Content-Disposition', dispositionFor('attachment', zipName(project, build, dir)));
    ctx.type = 'application/zip';
    ctx.body = body;
  };

  // the same list as the project origin's home page (build-list.ts), with absolute browse URLs
  router.get('/api/v1/projects/:project/builds', async (ctx) => {
    const project = checkId('project', pathParam(ctx, 'project'));
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, scope: 'artifacts:read' });
    const { rows, nextPageToken } = await buildRows(store, project, parseBuildQuery(ctx));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = { project, items: rows.map((row) => buildJson(row, (build, path) => browseUrl(project, build, path))), nextPageToken: nextPageToken ?? null };
  });

  router.put(`${PREFIX}/{*path}`, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, build, scope: 'artifacts:write' });
    const path = decodePath(rawArtifactPath(ctx), 'artifact path');

    const length = declaredLength(ctx, config.artifactMaxBytes, 'artifact');
    const given = ctx.get('content-type').trim();
    if (given !== '' && !MEDIA_TYPE.test(given)) {
      throw new BadRequestError(`Content-Type ${JSON.stringify(given)} is not a media type`);
    }
    const contentType = given === '' || UNCHOSEN.has(given.split(';')[0].trim().toLowerCase()) ? contentTypeFor(path) : given;

    const expiresAt = expiresAtFor(ctx.query.expire_in, now());
    const { created, entry } = await store.put(project, build, path, ctx.req, {
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      contentLength: length,
      contentType,
      uploader: { subject: job.subject, project: job.project, build: job.build, branch: job.branch, trusted: job.trusted },
      commit: job.commit,
    });
    audit.info(
      {
        audit: 'artifact.upload',
        reqId: ctx.state.requestId,
        who: { subject: job.subject, project, build, branch: job.branch, trusted: job.trusted },
        what: { path, size: entry.size, sha256: entry.sha256, contentType: entry.contentType, expiresAt: entry.expiresAt },
        created,
      },
      created ? 'artifact uploaded' : 'artifact upload repeated with identical bytes',
    );
    ctx.status = created ? 201 : 200;
    ctx.body = item(project, build, entry);
  });

  router.post(PREFIX, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, build, scope: 'artifacts:write' });
    if (ctx.query.bundle !== 'tar') throw new BadRequestError('POST …/artifacts uploads a bundle: say its format with ?bundle=tar');
    const given = ctx.get('content-type').split(';')[0].trim().toLowerCase();
    if (!BUNDLE_TYPES.has(given)) throw new BadRequestError(`a bundle is a tar archive (Content-Type: application/x-tar), not ${JSON.stringify(given)}`);
    const length = declaredLength(ctx, config.bundleMaxBytes, 'bundle');
    const uploader = { subject: job.subject, project: job.project, build: job.build, branch: job.branch, trusted: job.trusted };
    const expiresAt = expiresAtFor(ctx.query.expire_in, now());
    // refused before a byte is read: a deleted build takes no uploads
    await store.refuseDeletedBuild(project, build);
    const bundle = store.beginBundle(project, build, uploader, { commit: job.commit, ...(expiresAt !== undefined ? { expiresAt } : {}) });
    let received;
    try {
      received = await receiveBundle(bundle, ctx.req, length, { maxFiles: config.bundleMaxFiles, maxFileBytes: config.artifactMaxBytes });
    } catch (err) {
      await bundle.abort();
      // the rest of a refused archive is not read: close the connection after the answer
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      if (err instanceof BundleCut) throw Object.assign(err, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      throw err;
    }
    const published = await bundle.commit();
    audit.info(
      {
        audit: 'artifact.bundle',
        reqId: ctx.state.requestId,
        who: { subject: job.subject, project, build, branch: job.branch, trusted: job.trusted },
        what: { bundle: published.bundle, files: received.files, bytes: received.bytes, sha256: received.sha256, expiresAt },
        created: published.created,
        unchanged: published.unchanged,
      },
      'artifact bundle uploaded',
    );
    ctx.status = 201;
    ctx.body = {
      files: received.files,
      created: published.created,
      unchanged: published.unchanged,
      bytes: received.bytes,
      sha256: received.sha256,
      url: browseUrl(project, build, ''),
    };
  });

  router.get(PREFIX, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, scope: 'artifacts:read' });
    const sizeRaw = ctx.query.pageSize;
    const pageSize = sizeRaw === undefined ? 100 : Number(sizeRaw);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new BadRequestError('pageSize must be a whole number from 1 to 1000');
    }
    const token = ctx.query.pageToken;
    if (token !== undefined && (typeof token !== 'string' || token.length > 2048)) {
      throw new BadRequestError('pageToken must be the nextPageToken of the previous page');
    }
    if (ctx.query.archive !== undefined) return sendZip(ctx, project, build);
    const page = await store.list(project, build, { limit: pageSize, pageToken: token });
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = { items: page.items.map((e) => item(project, build, e)), nextPageToken: page.nextPageToken ?? null };
  });

  router.get(`${PREFIX}/{*path}`, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, scope: 'artifacts:read' });
    const path = decodePath(rawArtifactPath(ctx), 'artifact path');
    const entry = await store.entry(project, build, path);
    if (!entry) throw new NotFoundError(`no artifact ${path} in build ${build}`);
    const url = await store.attachmentUrl(project, entry, config.presignTtlSeconds);
    ctx.set('Cache-Control', 'private, no-store');
    setLocation(ctx, url);
  });

  return router;
}
