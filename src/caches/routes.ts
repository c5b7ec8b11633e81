/**
 * The caches API on the API host (token-authenticated JSON):
 *   GET    /api/v1/projects/{project}/caches?keys=k1,k2[&redirect=true]   restore lookup
 *   PUT    /api/v1/projects/{project}/caches/{key}                        save, streamed
 *   POST   /api/v1/projects/{project}/caches/{key}/uploads                direct upload: reserve
 *   POST   /api/v1/projects/{project}/caches/{key}/uploads/{id}/commit    direct upload: commit
 *   DELETE /api/v1/projects/{project}/caches/{key}/uploads/{id}           direct upload: abort
 * A job writes only its own scope (caches/scopes.ts) and reads its scope, base and default branch.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type JobIdentity, type TokenVerifier } from '../auth/job-token';
import type { Config } from '../config';
import { dispositionFor } from '../content-policy';
import { BadRequestError } from '../errors';
import { declaredLength, readJson } from '../http/body';
import type { Logger } from '../http/logger';
import type { RequestState } from '../http/request-context';
import { checkId } from '../ids';
import { toCacheKey } from '../storage/keys';
import type { Storage, UploadedPart } from '../storage/storage';
import { readScopes, writeScope } from './scopes';
import { publicEntry, type CacheEntry, type CacheStore, type CacheWriter } from './store';
import { pathParam } from '../http/params';

export interface CacheApiDeps {
  config: Config;
  store: CacheStore;
  storage: Storage;
  tokens: TokenVerifier;
  audit: Logger;
}

const BASE = '/api/v1/projects/:project/caches';
const MAX_RESTORE_KEYS = 10;
const SHA256 = /^[0-9a-f]{64}$/;

// anchored on the route's own segments: a project named "caches" must not move it
const CACHE_KEY_PATH = /^\/api\/v1\/projects\/[^/]+\/caches\/(.*)$/;

/** The key part of the path, percent-decoded once, with an optional /uploads… tail removed. */
function keyFromPath(ctx: Context, tail: RegExp = /$^/): { key: string; uploadId?: string } {
  let raw = CACHE_KEY_PATH.exec(ctx.path)?.[1] ?? '';
  let uploadId: string | undefined;
  const m = tail.exec(raw);
  if (m) {
    uploadId = m[1];
    raw = raw.slice(0, m.index);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError('the cache key in the path is not valid percent-encoded UTF-8', 'invalid_key');
  }
  return { key: toCacheKey(decoded), uploadId };
}

/**
 * The optional expandedSize of a save (the archive's uncompressed tar size, which restoring
 * clients enforce): a non-negative safe integer, or absent.
 */
function expandedSize(value: unknown, query = false): number | undefined {
  if (value === undefined) return undefined;
  // a query parameter is a string of digits; in JSON it is a number
  const n = query && typeof value === 'string' ? (/^\d{1,16}$/.test(value) ? Number(value) : NaN) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new BadRequestError('expandedSize must be the uncompressed size of the archive in bytes, a whole number from 0 to 2^53-1');
  }
  return n;
}

function writer(job: JobIdentity): CacheWriter {
  return { subject: job.subject, project: job.project, branch: job.branch, build: job.build, trusted: job.trusted };
}

export function cacheApiRoutes(deps: CacheApiDeps): Router<RequestState> {
  const { config, store, storage, tokens, audit } = deps;
  const router = new Router<RequestState>();

  async function job(ctx: Context, scope: 'cache:read' | 'cache:write'): Promise<{ project: string; job: JobIdentity }> {
    const project = checkId('project', pathParam(ctx, 'project'));
    const id = await requireJob(ctx, tokens);
    authorize(id, { project, scope });
    return { project, job: id };
  }

  const logWrite = (ctx: Context, action: string, j: JobIdentity, e: CacheEntry) =>
    audit.info(
      {
        audit: action,
        reqId: ctx.state.requestId,
        who: writer(j),
        what: { key: e.key, scope: e.scope, size: e.size, sha256: e.sha256, expandedSize: e.expandedSize },
      },
      'cache entry saved',
    );

  router.get(BASE, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:read');
    const raw = ctx.query.keys;
    if (typeof raw !== 'string' || raw.trim() === '') throw new BadRequestError('keys is required: ?keys=primary-key,restore-prefix,…');
    const parts = raw.split(',');
    if (parts.length > MAX_RESTORE_KEYS) throw new BadRequestError(`at most ${MAX_RESTORE_KEYS} keys may be given`);
    const keys = parts.map((k, i) => toCacheKey(k, { prefix: i > 0 }));
    const scopes = readScopes(j);
    const hit = await store.restore(project, scopes, keys);
    ctx.set('Cache-Control', 'private, no-store');
    if (!hit) {
      ctx.status = 204;
      return;
    }
    const url = await storage.presignGet('cache', store.objectKey(project, hit.entry), {
      expiresIn: config.presignTtlSeconds,
      responseContentType: 'application/octet-stream',
      responseContentDisposition: dispositionFor('attachment', 'cache.tar.gz'),
    });
    // last-used is advisory: a failure to record it must not fail the restore
    await store.touch(project, hit.entry).catch((err: unknown) => audit.warn({ err }, 'could not record cache use'));
    if (ctx.query.redirect === 'true' || ctx.query.redirect === '1') {
      ctx.status = 302;
      ctx.set('Location', url);
      return;
    }
    ctx.body = { ...publicEntry(hit.entry), exact: hit.exact, url };
  });

  router.put(`${BASE}/{*key}`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:write');
    const { key } = keyFromPath(ctx);
    const length = declaredLength(ctx, config.caches.maxBytes, 'cache');
    const raw = ctx.query.expandedSize;
    if (Array.isArray(raw)) throw new BadRequestError('expandedSize may be given once');
    const expanded = expandedSize(raw, true);
    const entry = await store.save(project, writeScope(j), key, ctx.req, { contentLength: length, createdBy: writer(j), expandedSize: expanded });
    logWrite(ctx, 'cache.save', j, entry);
    ctx.status = 201;
    ctx.body = publicEntry(entry);
  });

  router.post(`${BASE}/{*rest}`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:write');
    const commit = /\/uploads\/([^/]+)\/commit$/.exec(ctx.path);
    if (commit) {
      const { key, uploadId } = keyFromPath(ctx, /\/uploads\/([^/]+)\/commit$/);
      const body = await readJson(ctx);
      const parts = parseParts(body.parts);
      const entry = await store.commit(project, writeScope(j), key, uploadId!, parts);
      logWrite(ctx, 'cache.save', j, entry);
      ctx.status = 201;
      ctx.body = publicEntry(entry);
      return;
    }
    if (!ctx.path.endsWith('/uploads')) throw new BadRequestError('POST …/caches/{key}/uploads starts a direct upload; …/uploads/{id}/commit ends it');
    const { key } = keyFromPath(ctx, /\/uploads$/);
    const body = await readJson(ctx);
    const size = body.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw new BadRequestError('size must be the archive size in bytes');
    if (size > config.caches.maxBytes) throw new BadRequestError(`${size} bytes is over the ${config.caches.maxBytes}-byte cache limit`);
    if (typeof body.sha256 !== 'string' || !SHA256.test(body.sha256)) throw new BadRequestError('sha256 must be the archive sha256 in lower-case hex');
    const expanded = expandedSize(body.expandedSize);
    const reservation = await store.reserve(project, writeScope(j), key, {
      size,
      sha256: body.sha256,
      expandedSize: expanded,
      partSize: config.caches.partBytes,
      urlTtlSeconds: config.caches.uploadTtlSeconds,
      createdBy: writer(j),
    });
    ctx.set('Cache-Control', 'private, no-store');
    ctx.status = 201;
    ctx.body = reservation;
  });

  router.delete(`${BASE}/{*rest}`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:write');
    if (!/\/uploads\/[^/]+$/.test(ctx.path)) throw new BadRequestError('only direct uploads can be deleted: …/caches/{key}/uploads/{id}');
    const { key, uploadId } = keyFromPath(ctx, /\/uploads\/([^/]+)$/);
    await store.abort(project, writeScope(j), key, uploadId!);
    ctx.status = 204;
  });

  return router;
}

function parseParts(value: unknown): UploadedPart[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 10_000) {
    throw new BadRequestError('parts must be a list of {partNumber, etag}, one per uploaded part');
  }
  return value.map((p: unknown, i) => {
    const part = p as { partNumber?: unknown; etag?: unknown };
    if (part.partNumber !== i + 1 || typeof part.etag !== 'string' || part.etag.length > 200) {
      throw new BadRequestError('parts must be [{partNumber: 1, etag}, {partNumber: 2, etag}, …] in order');
    }
    return { partNumber: part.partNumber, etag: part.etag };
  });
}
