/**
 * ccache's HTTP remote storage, with `remote_storage = <gateway>/cache/ccache|bearer-token=<job
 * token>` (ccache 4.6 or later) or the token as the password of
 * `http://ci:<job token>@host/cache/ccache`, which ccache sends as HTTP Basic (4.4 or later):
 *   GET|HEAD /cache/ccache/{prefix}/{rest}  layout=subdirs (ccache's default): the key's first two
 *                                           characters, then the rest; layout=bazel: ac/{64 hex}
 *   GET|HEAD /cache/ccache/{key}            layout=flat
 *   PUT      the same paths                 save into the job's scope: 200, a duplicate too
 *   DELETE   the same paths                 204, and nothing is deleted (see below)
 * The entry's key is the path's segments joined, so layouts subdirs and flat name the same entry.
 *
 * What ccache does with the answers (src/storage/remote/HttpStorage.cpp): a GET other than 2xx is
 * a miss; its uploads overwrite, except when it reshares what it found locally (`reshare`), which
 * it first asks about with a HEAD and skips on 2xx (src/storage/Storage.cpp); a PUT or a DELETE
 * other than 2xx marks the storage as failed for the rest of that compilation. It does not follow
 * redirects, so entries are served through the gateway.
 *
 * DELETE: ccache removes an entry when the result its manifest named is not the one its
 * preprocessor output names (src/ccache.cpp, "Removing manifest as a safety measure"), then reads
 * that key again. Entries are write-once and shared along the read scopes: removing one a job
 * reads but did not write would let a pull request remove what trusted jobs stored, and removing
 * one from its own scope, then uploading again, would undo write-once. Refusing would fail
 * ccache's storage for that compilation instead, so a removal is answered 204 with nothing
 * removed; entries leave by TTL, quota and gc. The key ccache then reads names the preprocessed
 * source, so what it finds there is still right.
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
      // ccache's HEAD is the check before resharing, not a read: it counts as neither hit nor miss
      const entry = ctx.method === 'HEAD' ? await cache.has(job, 'ccache', key) : await cache.lookup(job, 'ccache', key);
      if (!entry) throw new NotFoundError(`no ccache entry ${key}`);
      await cache.send(ctx, job, 'ccache', entry);
    });

    router.put(path, async (ctx) => {
      const job = await protocolJob(ctx, tokens, 'cache:write');
      // a duplicate keeps the first entry; ccache must not see an error for it (its ordinary
      // uploads ask nothing first: another job's compilation may have stored the key meanwhile)
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
