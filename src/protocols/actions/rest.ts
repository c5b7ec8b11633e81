/**
 * Cache service v1, REST under `<ACTIONS_CACHE_URL>_apis/artifactcache/`, as @actions/cache 6.x
 * speaks it on GHES and wherever ACTIONS_CACHE_SERVICE_V2 is unset (internal/cacheHttpClient.ts):
 *   GET   /_apis/artifactcache/cache?keys=k1,k2&version=V   200 {cacheKey, scope, cacheVersion,
 *                                                          creationTime, archiveLocation} | 204
 *   POST  /_apis/artifactcache/caches   {key, version, cacheSize} -> 201 {cacheId} | 409 exists
 *   PATCH /_apis/artifactcache/caches/{cacheId}  Content-Range: bytes s-e/*; a chunk, any order,
 *                                                chunked transfer encoding (no Content-Length)
 *   POST  /_apis/artifactcache/caches/{cacheId}  {size}: commit -> 204
 * The cacheId is bound to the job that reserved it (its project, scope and build). Errors are
 * {message} with the status, as the client reads them; a token without cache:write or
 * cache:read gets a 403 whose message starts "cache write denied:" / "cache read denied:"
 * (cache.ts and cacheHttpClient.ts look for those prefixes). Other /_apis/ GETs and POSTs are 404
 * with a message saying what is served here.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { JobIdentity, TokenVerifier } from '../../auth/job-token';
import type { Config } from '../../config';
import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError, PayloadTooLargeError } from '../../errors';
import { acceptBody, readJson } from '../../http/body';
import { pathParam } from '../../http/params';
import type { RequestState } from '../../http/request-context';
import type { CacheStore } from '../../caches/store';
import type { Storage } from '../../storage/storage';
import { protocolJob, type CacheAccess } from '../job';
import type { KeyedCache } from '../keyed-cache';
import { byteCount, cacheKey, cacheVersion, restoreKeys, sameJob, versioned, writer } from './fields';
import { ActionsUploads, type ActionsUpload } from './uploads';

const BASE = '/_apis/artifactcache';
const CONTENT_RANGE = /^bytes (\d{1,15})-(\d{1,15})\/(?:\*|\d{1,15})$/;

export interface RestDeps {
  config: Config;
  tokens: TokenVerifier;
  cache: KeyedCache;
  store: CacheStore;
  storage: Storage;
  uploads: ActionsUploads;
}

export function restRoutes(deps: RestDeps): Router<RequestState> {
  const { config, tokens, cache, store, storage, uploads } = deps;
  const router = new Router<RequestState>();

  async function job(ctx: Context, access: CacheAccess): Promise<JobIdentity> {
    ctx.set('Cache-Control', 'private, no-store');
    try {
      return await protocolJob(ctx, tokens, access);
    } catch (err) {
      if (err instanceof ForbiddenError) throw new ForbiddenError(`cache ${access === 'cache:read' ? 'read' : 'write'} denied: ${err.message}`);
      throw err;
    }
  }

  /** The reserved upload `{cacheId}` names, if this job reserved it. */
  async function reserved(ctx: Context, j: JobIdentity): Promise<{ uploadId: string; upload: ActionsUpload }> {
    const raw = pathParam(ctx, 'cacheId');
    const cacheId = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(cacheId) || cacheId >= 2 ** 48) throw new NotFoundError(`no cache upload ${raw}`);
    const uploadId = ActionsUploads.v1UploadId(cacheId);
    const upload = await uploads.get(j.project, uploadId);
    if (upload?.api !== 'v1' || upload.scope !== cache.writeScope(j, 'actions') || !sameJob(upload.createdBy, j)) {
      throw new NotFoundError(`no cache upload ${cacheId} reserved by this job`);
    }
    return { uploadId, upload };
  }

  router.get(`${BASE}/cache`, (ctx) =>
    v1Errors(ctx, async () => {
      const j = await job(ctx, 'cache:read');
      const raw = ctx.query.keys;
      if (typeof raw !== 'string' || raw === '') throw new BadRequestError('keys is required: ?keys=key,restore-key,…&version=…');
      const version = cacheVersion(ctx.query.version);
      const [key, ...rest] = raw.split(',');
      const keys = [cacheKey(key), ...restoreKeys(rest)].map((k) => versioned(version, k));
      const hit = await cache.restore(j, 'actions', keys);
      if (!hit) {
        ctx.status = 204;
        return;
      }
      const archiveLocation = await storage.presignGet('cache', store.objectKey(j.project, hit.entry), {
        expiresIn: config.presignTtlSeconds,
        responseContentType: 'application/octet-stream',
      });
      ctx.body = {
        cacheKey: hit.entry.key.slice(cache.storeKey('actions', `${version}/`).length),
        scope: hit.entry.scope,
        cacheVersion: version,
        creationTime: hit.entry.createdAt,
        archiveLocation,
      };
    }),
  );

  router.post(`${BASE}/caches`, (ctx) =>
    v1Errors(ctx, async () => {
      const j = await job(ctx, 'cache:write');
      const body = await readJson(ctx, 64 * 1024);
      const key = cacheKey(body.key);
      const version = cacheVersion(body.version);
      const size = body.cacheSize === undefined ? undefined : byteCount(body.cacheSize, 'cacheSize');
      if (size !== undefined && size > config.caches.maxBytes) {
        throw new BadRequestError(`the cache is ${size} bytes, over this gateway's ${config.caches.maxBytes}-byte limit; not saving it`);
      }
      const storeKey = cache.storeKey('actions', versioned(version, key));
      const scope = cache.writeScope(j, 'actions');
      if (await store.entry(j.project, scope, storeKey)) {
        cache.duplicate('actions');
        throw new ConflictError(`Cache already exists. Scope: ${scope}, Key: ${key}, Version: ${version}`);
      }
      const { cacheId, uploadId } = ActionsUploads.v1Id();
      const upload = await uploads.reserve(j.project, uploadId, { api: 'v1', key: storeKey, scope, createdBy: writer(j), size });
      if (!upload) throw new ConflictError('the cache id is taken; reserve again');
      ctx.status = 201;
      ctx.body = { cacheId };
    }),
  );

  router.patch(`${BASE}/caches/:cacheId`, (ctx) =>
    v1Errors(ctx, async () => {
      const j = await job(ctx, 'cache:write');
      const { upload } = await reserved(ctx, j);
      const range = CONTENT_RANGE.exec(ctx.get('content-range'));
      if (!range) throw new BadRequestError('Content-Range must be "bytes <start>-<end>/*"');
      const start = Number(range[1]);
      const end = Number(range[2]);
      if (end < start) throw new BadRequestError('Content-Range ends before it starts');
      if (end >= config.caches.maxBytes) throw new PayloadTooLargeError(`byte ${end} is past this gateway's ${config.caches.maxBytes}-byte cache limit`);
      if (upload.size !== undefined && end >= upload.size) throw new BadRequestError(`byte ${end} is past the ${upload.size} bytes reserved`);
      // the client streams each chunk without a Content-Length (http-client sendStream): the
      // range is the declared length, and a body of any other length stores nothing
      const length = ctx.get('content-length');
      if (length !== '' && length !== String(end - start + 1))
        throw new BadRequestError(`Content-Length ${length} does not match Content-Range ${start}-${end}`);
      acceptBody(ctx);
      await uploads.stageChunk(j.project, upload, start, end, ctx.req);
      ctx.status = 204;
    }),
  );

  router.post(`${BASE}/caches/:cacheId`, (ctx) =>
    v1Errors(ctx, async () => {
      const j = await job(ctx, 'cache:write');
      const { uploadId, upload } = await reserved(ctx, j);
      const body = await readJson(ctx, 64 * 1024);
      const size = byteCount(body.size, 'size');
      try {
        const entry = await uploads.commitChunks(j.project, uploadId, upload, size);
        cache.saved(ctx, 'actions', entry);
      } catch (err) {
        if (err instanceof ConflictError) {
          cache.duplicate('actions');
          throw new ConflictError(`Cache already exists. Scope: ${upload.scope}, Key: ${upload.key.split('/').slice(2).join('/')}`);
        }
        throw err;
      }
      ctx.status = 204;
    }),
  );

  // the other Azure DevOps-style APIs a runner's URLs lead to (v3 artifacts, v1's cache listing)
  const notServed = (ctx: Context) =>
    v1Errors(ctx, () => {
      throw new NotFoundError(
        `${ctx.method} ${ctx.path} is not served: ` +
          `this gateway serves only the GitHub Actions cache service (${BASE}/cache, ${BASE}/caches…, and /twirp/ for v2)`,
      );
    });
  router.get('/_apis/{*rest}', notServed);
  router.post('/_apis/{*rest}', notServed);

  return router;
}

/** Client errors as the v1 service wrote them ({message}); 5xx to the error handler, which logs them. */
async function v1Errors(ctx: Context, handle: () => Promise<void> | void): Promise<void> {
  try {
    await handle();
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500) throw err;
    ctx.status = err.status;
    ctx.body = { message: err.message, typeKey: err.code };
  }
}
