/**
 * Bazel's HTTP remote cache, `--remote_cache=<gateway>/cache/bazel` with
 * `--remote_header=Authorization=Bearer <job token>`:
 *   GET /cache/bazel/ac/{sha256}    an action result (keyed: the job's scopes)
 *   PUT /cache/bazel/ac/{sha256}
 *   GET /cache/bazel/cas/{sha256}   a blob, named by its own sha256
 *   PUT /cache/bazel/cas/{sha256}   verified against that sha256 before it commits
 * Bazel does not follow redirects (a 302 reads as an error and it rebuilds), so downloads are
 * served through the gateway. It uploads blobs it already uploaded: a duplicate answers 200.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { TokenVerifier } from '../auth/job-token';
import { BadRequestError, NotFoundError } from '../errors';
import type { RequestState } from '../http/request-context';
import { protocolJob } from './job';
import type { KeyedCache, Protocol } from './keyed-cache';
import { pathParam } from '../http/params';

const SHA256 = /^[0-9a-f]{64}$/;

export function bazelRoutes(deps: { tokens: TokenVerifier; cache: KeyedCache }): Router<RequestState> {
  const { tokens, cache } = deps;
  const router = new Router<RequestState>({ prefix: '/cache/bazel' });

  const target = (ctx: Context): { protocol: Protocol; digest: string } => {
    const kind = pathParam(ctx, 'kind');
    if (kind !== 'ac' && kind !== 'cas') throw new NotFoundError('Bazel caches are /cache/bazel/ac/{sha256} and /cache/bazel/cas/{sha256}');
    const digest = pathParam(ctx, 'digest');
    if (!SHA256.test(digest)) throw new BadRequestError('Bazel cache keys are sha256 digests: 64 lower-case hex digits', 'invalid_key');
    return { protocol: kind === 'cas' ? 'bazel-cas' : 'bazel-ac', digest };
  };

  router.get('/:kind/:digest', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:read');
    const { protocol, digest } = target(ctx);
    const entry = await cache.lookup(job, protocol, digest);
    if (!entry) throw new NotFoundError(`no ${protocol === 'bazel-cas' ? 'blob' : 'action result'} ${digest}`);
    await cache.send(ctx, job, protocol, entry);
  });

  router.put('/:kind/:digest', async (ctx) => {
    const job = await protocolJob(ctx, tokens, 'cache:write');
    const { protocol, digest } = target(ctx);
    await cache.save(ctx, job, protocol, digest, protocol === 'bazel-cas' ? { sha256: digest } : {});
    ctx.status = 200;
  });

  return router;
}
