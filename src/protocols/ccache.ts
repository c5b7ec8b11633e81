/**
 * ccache's HTTP remote storage (ccache 4.4 or later), with
 * `remote_storage = <gateway>/cache/ccache|bearer-token=<job token>` (or the token as the password
 * of `http://ci:<job token>@host/cache/ccache`, sent as HTTP Basic):
 *   GET|HEAD /cache/ccache/{prefix}/{rest}  layout=subdirs (ccache's default): the key's first two
 *                                           characters, then the rest; layout=bazel: ac/{64 hex}
 *   GET|HEAD /cache/ccache/{key}            layout=flat
 *   PUT      the same paths                 save into the job's scope: 200, a duplicate too
 *   DELETE   the same paths                 204, and nothing is deleted (see below)
 * The entry's key is the path's segments joined, so layouts subdirs and flat name the same entry.
 *
 * What ccache does with the answers (src/storage/remote/HttpStorage.cpp): a GET other than 2xx is
 * a miss; before a non-overwriting PUT it sends a HEAD and skips the upload on 2xx; a PUT or a
 * DELETE other than 2xx marks the storage as failed for the rest of that compilation. It does not
 * follow redirects, so entries are served through the gateway.
 *
 * DELETE: ccache removes a result when a manifest pointed it at a result its preprocessor output
 * does not match (src/ccache.cpp, "Removing manifest as a safety measure"), then reads the same
 * key again. Entries are write-once and shared along the read scopes, so a job may not remove
 * them: a removal that then lets a new upload win would undo write-once, and a pull request could
 * empty a trusted job's cache. Refusing would fail ccache's storage for that compilation instead,
 * so a removal is answered 204 with nothing removed; entries leave by TTL, quota and gc. The
 * result key ccache then reads names the preprocessed source, so what it finds is still right.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { TokenVerifier } from '../auth/job-token';
import { BadRequestError, NotFoundError } from '../errors';
import type { RequestState } from '../http/request-context';
import { protocolJob } from './job';
import type { KeyedCache } from './keyed-cache';
import { pathParam } from '../http/params';

// ccache's keys are 4 lower-case hex digits then base32hex (Digest::to_string, 33 characters);
// its bazel layout pads the key's hex to 64. Any lower-case letters and digits are accepted.
const KEY = /^[0-9a-z]{3,128}$/;
const PREFIX = /^[0-9a-z]{2}$/;
const KEY_RULE = 'ccache keys are 3-128 lower-case letters or digits: /cache/ccache/{key} (layout=flat) or /cache/ccache/{first 2}/{rest}';

export function ccacheRoutes(deps: { tokens: TokenVerifier; cache: KeyedCache }): Router<RequestState> {
  const { tokens, cache } = deps;
  const router = new Router<RequestState>({ prefix: '/cache/ccache' });

  const keyOf = (ctx: Context): string => {
    const prefix = pathParam(ctx, 'prefix');
    const key = prefix + pathParam(ctx, 'rest') + pathParam(ctx, 'key');
    if ((prefix && !PREFIX.test(prefix)) || !KEY.test(key)) throw new BadRequestError(KEY_RULE, 'invalid_key');
    return key;
  };

  for (const path of ['/:key', '/:prefix/:rest']) {
    // GET and HEAD (the router answers HEAD with the GET route)
    router.get(path, async (ctx) => {
      const job = await protocolJob(ctx, tokens, 'cache:read');
      const key = keyOf(ctx);
      // ccache's HEAD is the check before an upload, not a read: it counts as neither hit nor miss
      const entry = ctx.method === 'HEAD' ? await cache.has(job, 'ccache', key) : await cache.lookup(job, 'ccache', key);
      if (!entry) throw new NotFoundError(`no ccache entry ${key}`);
      await cache.send(ctx, job, 'ccache', entry);
    });

    router.put(path, async (ctx) => {
      const job = await protocolJob(ctx, tokens, 'cache:write');
      // a duplicate keeps the first entry; ccache must not see an error for it (an overwriting
      // upload, `CCACHE_RECACHE`, sends no HEAD first)
      await cache.save(ctx, job, 'ccache', keyOf(ctx));
      ctx.status = 200;
    });

    router.delete(path, async (ctx) => {
      await protocolJob(ctx, tokens, 'cache:write');
      keyOf(ctx);
      ctx.status = 204;
    });
  }

  return router;
}
