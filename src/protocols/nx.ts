/**
 * Nx's self-hosted remote cache (Nx >= 20.8), with
 * `NX_SELF_HOSTED_REMOTE_CACHE_SERVER=<gateway>` and
 * `NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN=<job token>`:
 *   GET /v1/cache/{hash}   the task's outputs (a gzip tar), or 404
 *   PUT /v1/cache/{hash}   save into the job's scope: 200
 * Nx's spec says 202 for a save, but its client (packages/nx/src/native/cache/http_remote_cache.rs)
 * counts only 200 as stored and retries anything else. A key that already holds an entry answers
 * 409, which that client reads, silently, as "not stored" (write-once: the first save wins).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { TokenVerifier } from '../auth/job-token';
import { BadRequestError, ConflictError, NotFoundError } from '../errors';
import type { RequestState } from '../http/request-context';
import { protocolJob } from './job';
import type { KeyedCache } from './keyed-cache';
import { pathParam } from '../http/params';

const HASH = /^[A-Za-z0-9_-]{1,128}$/;

export function nxRoutes(deps: { tokens: TokenVerifier; cache: KeyedCache }): Router<RequestState> {
  const { tokens, cache } = deps;
  const router = new Router<RequestState>({ prefix: '/v1/cache' });

  const hashOf = (ctx: Context): string => {
    const hash = pathParam(ctx, 'hash');
    if (!HASH.test(hash)) throw new BadRequestError('the task hash must be 1-128 letters, digits, "-" or "_"', 'invalid_key');
    return hash;
  };

  router.get('/:hash', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:read');
    const entry = await cache.lookup(job, 'nx', hashOf(ctx));
    if (!entry) throw new NotFoundError('no such task output');
    await cache.send(ctx, job, 'nx', entry);
  });

  router.put('/:hash', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:write');
    const hash = hashOf(ctx);
    if ((await cache.save(ctx, job, 'nx', hash)) === 'duplicate') {
      throw new ConflictError(`task output ${hash} is already stored; cache entries are write-once`);
    }
    ctx.status = 200;
  });

  return router;
}
