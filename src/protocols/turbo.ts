/**
 * Turborepo's remote cache API v8, as `turbo --api <gateway> --token <job token> --team <project>`
 * speaks it (turborepo's `docs/site/lib/remote-cache-openapi.json`):
 *   GET  /v8/artifacts/status          {"status":"enabled"}
 *   GET  /v8/artifacts/{hash}          the artifact, served through the gateway (see below)
 *   HEAD /v8/artifacts/{hash}          whether it exists, with its size
 *   PUT  /v8/artifacts/{hash}          save (write-once, the job's scope); 202 {"urls":[…]}
 *   POST /v8/artifacts                 {"hashes":[…]} -> {hash: {size, taskDurationMs, tag} | null}
 *   POST /v8/artifacts/events          usage events: accepted and dropped
 * The team (`?slug=`, or `?teamId=` with TURBO_TEAMID) must be the token's project, or absent.
 * Downloads are served, not redirected: with signing on, turbo reads `x-artifact-tag` from the
 * final response, and a redirect to storage would lose it (turbo then rebuilds and re-uploads).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { JobIdentity, TokenVerifier } from '../auth/job-token';
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError } from '../errors';
import { acceptBody, readJson } from '../http/body';
import type { RequestState } from '../http/request-context';
import { protocolJob, type CacheAccess } from './job';
import type { KeyedCache } from './keyed-cache';
import { pathParam } from '../http/params';

const HASH = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_QUERY_HASHES = 1000;
const EVENTS_MAX_BYTES = 1024 * 1024;
// what turbo sends with an artifact and wants back with it; short values, kept in the entry
const KEPT_HEADERS = { tag: 'x-artifact-tag', duration: 'x-artifact-duration' } as const;
const TAG_MAX = 1024;

export function turboRoutes(deps: { tokens: TokenVerifier; cache: KeyedCache }): Router<RequestState> {
  const { tokens, cache } = deps;
  const router = new Router<RequestState>({ prefix: '/v8/artifacts' });

  async function job(ctx: Context, access: CacheAccess): Promise<JobIdentity> {
    const j = await protocolJob(ctx, tokens, access);
    for (const name of ['slug', 'teamId']) {
      const team = ctx.query[name];
      if (team === undefined) continue;
      if (team !== j.project) {
        throw new ForbiddenError(`this token is for project ${JSON.stringify(j.project)}, not team ${JSON.stringify(team)}`);
      }
    }
    ctx.set('Cache-Control', 'private, no-store');
    return j;
  }

  const hashOf = (ctx: Context): string => {
    const hash = pathParam(ctx, 'hash');
    if (!HASH.test(hash)) throw new BadRequestError('the artifact hash must be 1-128 letters, digits, "-" or "_"', 'invalid_key');
    return hash;
  };

  router.get('/status', async (ctx) => {
    await job(ctx, 'cache:read');
    ctx.body = { status: 'enabled' };
  });

  router.post('/events', async (ctx) => {
    await job(ctx, 'cache:read');
    acceptBody(ctx);
    try {
      await getRawBody(ctx.req, { limit: EVENTS_MAX_BYTES, length: ctx.get('content-length') || undefined });
    } catch (err) {
      if ((err as { type?: string }).type === 'entity.too.large') throw new PayloadTooLargeError(`events are limited to ${EVENTS_MAX_BYTES} bytes`);
      throw err;
    }
    ctx.status = 200;
    ctx.body = {};
  });

  router.post('/', async (ctx) => {
    const j = await job(ctx, 'cache:read');
    const { hashes } = await readJson(ctx);
    if (!Array.isArray(hashes) || hashes.length > MAX_QUERY_HASHES || !hashes.every((h) => typeof h === 'string' && HASH.test(h))) {
      throw new BadRequestError(`hashes must be a list of at most ${MAX_QUERY_HASHES} artifact hashes`);
    }
    const out: Record<string, { size: number; taskDurationMs: number; tag?: string } | null> = {};
    for (const hash of hashes as string[]) {
      const entry = await cache.lookup(j, 'turbo', hash);
      out[hash] = entry && { size: entry.size, taskDurationMs: Number(entry.meta?.duration ?? 0), ...(entry.meta?.tag ? { tag: entry.meta.tag } : {}) };
    }
    ctx.body = out;
  });

  // GET and HEAD (the router answers HEAD with the GET route)
  router.get('/:hash', async (ctx) => {
    const j = await job(ctx, 'cache:read');
    const entry = await cache.lookup(j, 'turbo', hashOf(ctx));
    if (!entry) throw new NotFoundError('no such artifact');
    ctx.status = 200;
    ctx.type = 'application/octet-stream';
    ctx.length = entry.size;
    for (const [field, header] of Object.entries(KEPT_HEADERS)) {
      const value = entry.meta?.[field];
      if (value !== undefined) ctx.set(header, value);
    }
    if (ctx.method === 'HEAD') return;
    ctx.body = (await cache.open(ctx, j, 'turbo', entry)).body;
  });

  router.put('/:hash', async (ctx) => {
    const j = await job(ctx, 'cache:write');
    const hash = hashOf(ctx);
    const meta: Record<string, string> = {};
    const tag = ctx.get(KEPT_HEADERS.tag);
    if (tag.length > TAG_MAX) throw new BadRequestError(`x-artifact-tag is limited to ${TAG_MAX} characters`);
    if (tag) meta.tag = tag;
    const duration = ctx.get(KEPT_HEADERS.duration);
    if (/^\d{1,15}$/.test(duration)) meta.duration = duration;
    await cache.save(ctx, j, 'turbo', hash, { meta });
    // a duplicate keeps the first artifact saved: turbo only needs to know it is stored
    ctx.status = 202;
    ctx.body = { urls: [`${ctx.origin}/v8/artifacts/${hash}`] };
  });

  return router;
}
