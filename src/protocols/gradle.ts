/**
 * Gradle's HTTP build cache, with a `remote(HttpBuildCache)` whose url is
 * `<gateway>/cache/gradle/` and whose credentials are any user name and the job token:
 *   GET /cache/gradle/{key}   the task's outputs, or 404 (a miss)
 *   PUT /cache/gradle/{key}   save into the job's scope: 200, a duplicate too
 * Gradle authenticates only with HTTP Basic, so only Basic is read, and a request without it is
 * challenged with Basic (job.ts explains why not Bearer). Entries are served through the
 * gateway rather than redirected to storage: Gradle would follow a redirect, but a presigned URL
 * would be one more way to read an entry, and serving keeps the one check of the token here.
 * Gradle tolerates 413 for an entry over the limit (it logs and goes on without storing it).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { TokenVerifier } from '../auth/job-token';
import { BadRequestError, NotFoundError } from '../errors';
import type { RequestState } from '../http/request-context';
import { protocolJob } from './job';
import type { KeyedCache } from './keyed-cache';
import { pathParam } from '../http/params';

// Gradle's cache keys are the lower-case hex of a hash (32 digits, MD5, in Gradle 4 to 8)
const KEY = /^[0-9a-f]{32,128}$/;

export function gradleRoutes(deps: { tokens: TokenVerifier; cache: KeyedCache }): Router<RequestState> {
  const { tokens, cache } = deps;
  const router = new Router<RequestState>({ prefix: '/cache/gradle' });

  const keyOf = (ctx: Context): string => {
    const key = pathParam(ctx, 'key');
    if (!KEY.test(key)) throw new BadRequestError('Gradle build cache keys are 32-128 lower-case hex digits', 'invalid_key');
    return key;
  };

  router.get('/:key', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:read', 'basic');
    const key = keyOf(ctx);
    const entry = await cache.lookup(job, 'gradle', key);
    if (!entry) throw new NotFoundError(`no build cache entry ${key}`);
    await cache.send(ctx, job, 'gradle', entry);
  });

  router.put('/:key', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:write', 'basic');
    await cache.save(ctx, job, 'gradle', keyOf(ctx));
    ctx.status = 200;
  });

  return router;
}
