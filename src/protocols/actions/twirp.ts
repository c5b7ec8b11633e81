/**
 * Cache service v2, Twirp with JSON at the host root, as @actions/cache 6.x calls it
 * (internal/shared/cacheTwirpClient.ts: `new URL('/twirp/…', ACTIONS_RESULTS_URL)`):
 *   POST /twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL
 *        {key, restore_keys[], version} -> {ok, signed_download_url, matched_key}
 *   POST /twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry
 *        {key, version} -> {ok, signed_upload_url, message}
 *   POST /twirp/github.actions.results.api.v1.CacheService/FinalizeCacheEntryUpload
 *        {key, size_bytes, version} -> {ok, entry_id, message}
 * Anything else under /twirp/ (upload-artifact's ArtifactService shares ACTIONS_RESULTS_URL) is
 * a Twirp `bad_route`: 404 with a message saying what this gateway serves.
 *
 * Every error is Twirp JSON ({code, msg}): the client parses every answer as JSON and retries
 * what it cannot parse (cacheTwirpClient.ts). A save the client cannot make answers ok:false
 * with a message, as GitHub does: an existing key+version ("already exists", write-once), a
 * token without cache:write (the message starts "cache write denied:", which the client
 * reports once, cache.ts). A read the token may not make is permission_denied "cache read
 * denied: …" (cache.ts). int64 fields are strings; field names are the proto names.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { JobIdentity, TokenVerifier } from '../../auth/job-token';
import type { Config } from '../../config';
import { AppError, ConflictError, ForbiddenError } from '../../errors';
import { readJson } from '../../http/body';
import type { RequestState } from '../../http/request-context';
import type { CacheStore } from '../../caches/store';
import type { Storage } from '../../storage/storage';
import { protocolJob } from '../job';
import type { KeyedCache } from '../keyed-cache';
import { byteCount, cacheKey, cacheVersion, restoreKeys, sameJob, versioned, writer } from './fields';
import type { UploadUrlSigner } from './upload-url';
import { ActionsUploads } from './uploads';

export const SERVICE = 'github.actions.results.api.v1.CacheService';
const METHODS = ['GetCacheEntryDownloadURL', 'CreateCacheEntry', 'FinalizeCacheEntryUpload'] as const;
type Method = (typeof METHODS)[number];

const STATUS = {
  bad_route: 404,
  malformed: 400,
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
} as const;
type TwirpCode = keyof typeof STATUS;

export class TwirpError extends Error {
  constructor(
    readonly code: TwirpCode,
    message: string,
  ) {
    super(message);
  }
}

export interface TwirpDeps {
  config: Config;
  tokens: TokenVerifier;
  cache: KeyedCache;
  store: CacheStore;
  storage: Storage;
  uploads: ActionsUploads;
  signer: UploadUrlSigner;
}

type Body = Record<string, unknown>;
/** proto3 JSON parsers accept the proto name and the lowerCamel one; so does this. */
const field = (body: Body, proto: string, camel: string): unknown => body[proto] ?? body[camel];

export function twirpRoutes(deps: TwirpDeps): Router<RequestState> {
  const { config, tokens, cache, store, storage, uploads, signer } = deps;
  const router = new Router<RequestState>();

  const handlers: Record<Method, (ctx: Context, body: Body) => Promise<Body>> = {
    async GetCacheEntryDownloadURL(ctx, body) {
      let j: JobIdentity;
      try {
        j = await protocolJob(ctx, tokens, 'cache:read');
      } catch (err) {
        if (err instanceof ForbiddenError) throw new TwirpError('permission_denied', `cache read denied: ${err.message}`);
        throw err;
      }
      const key = cacheKey(body.key);
      const version = cacheVersion(body.version);
      const keys = [key, ...restoreKeys(field(body, 'restore_keys', 'restoreKeys'))].map((k) => versioned(version, k));
      const hit = await cache.restore(j, 'actions', keys);
      if (!hit) return { ok: false, signed_download_url: '', matched_key: '' };
      const url = await storage.presignGet('cache', store.objectKey(j.project, hit.entry), {
        expiresIn: config.presignTtlSeconds,
        responseContentType: 'application/octet-stream',
      });
      return { ok: true, signed_download_url: url, matched_key: hit.entry.key.slice(cache.storeKey('actions', `${version}/`).length) };
    },

    async CreateCacheEntry(ctx, body) {
      const j = await writingJob(ctx);
      if (typeof j === 'string') return { ok: false, signed_upload_url: '', message: j };
      const key = cacheKey(body.key);
      const version = cacheVersion(body.version);
      const storeKey = cache.storeKey('actions', versioned(version, key));
      const scope = cache.writeScope(j, 'actions');
      if (await store.entry(j.project, scope, storeKey)) {
        cache.duplicate('actions');
        return { ok: false, signed_upload_url: '', message: alreadyExists(key, version, scope) };
      }
      const uploadId = ActionsUploads.v2Id(scope, storeKey);
      let upload = await uploads.reserve(j.project, uploadId, { api: 'v2', key: storeKey, scope, createdBy: writer(j) });
      // the same job asking again (its first answer lost, the client retried): the same upload
      if (!upload) {
        const held = await uploads.get(j.project, uploadId);
        if (held?.api === 'v2' && sameJob(held.createdBy, j)) upload = held;
      }
      if (!upload) return { ok: false, signed_upload_url: '', message: `another job is saving cache ${JSON.stringify(key)} (version ${version}) right now` };
      const url = signer.sign({ project: j.project, uploadId, nonce: upload.nonce }, config.caches.uploadTtlSeconds);
      return { ok: true, signed_upload_url: url, message: '' };
    },

    async FinalizeCacheEntryUpload(ctx, body) {
      const j = await writingJob(ctx);
      if (typeof j === 'string') return { ok: false, entry_id: '0', message: j };
      const key = cacheKey(body.key);
      const version = cacheVersion(body.version);
      const size = byteCount(field(body, 'size_bytes', 'sizeBytes'), 'size_bytes');
      const storeKey = cache.storeKey('actions', versioned(version, key));
      const scope = cache.writeScope(j, 'actions');
      const uploadId = ActionsUploads.v2Id(scope, storeKey);
      const upload = await uploads.get(j.project, uploadId);
      if (upload?.api !== 'v2' || !sameJob(upload.createdBy, j)) {
        return { ok: false, entry_id: '0', message: `this job has no save of ${JSON.stringify(key)} (version ${version}) in progress: CreateCacheEntry first` };
      }
      try {
        const entry = await uploads.finalize(j.project, uploadId, upload, size);
        cache.saved(ctx, 'actions', entry);
        return { ok: true, entry_id: entryId(entry.object), message: '' };
      } catch (err) {
        if (err instanceof ConflictError) {
          cache.duplicate('actions');
          return { ok: false, entry_id: '0', message: alreadyExists(key, version, scope) };
        }
        if (err instanceof AppError && err.status === 400) return { ok: false, entry_id: '0', message: err.message };
        throw err;
      }
    },
  };

  /** The job, or the message of an ok:false when its token may not write caches. */
  async function writingJob(ctx: Context): Promise<JobIdentity | string> {
    try {
      return await protocolJob(ctx, tokens, 'cache:write');
    } catch (err) {
      if (!(err instanceof ForbiddenError)) throw err;
      return `cache write denied: ${err.message}`;
    }
  }

  // POST only: the router answers other methods 405 (Twirp calls are POSTs)
  router.post('/twirp/{*rest}', async (ctx) => {
    ctx.set('Cache-Control', 'private, no-store');
    try {
      const m = /^\/twirp\/([^/]+)\/([^/]+)$/.exec(ctx.path);
      if (!m || m[1] !== SERVICE || !(METHODS as readonly string[]).includes(m[2])) {
        throw new TwirpError(
          'bad_route',
          `no such Twirp method: ${ctx.path}. This gateway serves only the GitHub Actions cache service (${SERVICE}: ${METHODS.join(', ')}); ` +
            'artifacts (upload-artifact, download-artifact) are not served here',
        );
      }
      let body: Body;
      try {
        body = await readJson(ctx, 64 * 1024);
      } catch (err) {
        if (err instanceof AppError && err.status < 500) throw new TwirpError('malformed', `the request is not a JSON ${m[2]}Request: ${err.message}`);
        throw err;
      }
      ctx.body = await handlers[m[2] as Method](ctx, body);
    } catch (err) {
      const t = toTwirp(err);
      if (!t) throw err; // 5xx: the error handler logs it and answers JSON, which the client retries
      ctx.status = STATUS[t.code];
      ctx.body = { code: t.code, msg: t.message };
    }
  });

  return router;
}

function toTwirp(err: unknown): TwirpError | null {
  if (err instanceof TwirpError) return err;
  if (!(err instanceof AppError) || err.status >= 500) return null;
  const code: TwirpCode =
    err.status === 401
      ? 'unauthenticated'
      : err.status === 403
        ? 'permission_denied'
        : err.status === 404
          ? 'not_found'
          : err.status === 409
            ? 'already_exists'
            : 'invalid_argument';
  return new TwirpError(code, err.message);
}

const alreadyExists = (key: string, version: string, scope: string) =>
  `cache entry with the same key, version, and scope already exists: ${JSON.stringify(key)}, version ${version}, scope ${scope}; cache entries are write-once`;

/** An int64 for the client to log: 48 bits of the archive's random name. */
function entryId(object: string): string {
  return String(parseInt(object.replace(/[^0-9a-f]/g, '').slice(-12), 16) || 0);
}
