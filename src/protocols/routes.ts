/**
 * Build tools' own cache protocols on the API host, all onto one adapter (keyed-cache.ts):
 *   /v8/artifacts/…          Turborepo (turbo.ts)
 *   /cache/bazel/{ac,cas}/…  Bazel's HTTP cache (bazel.ts)
 *   /v1/cache/{hash}         Nx's self-hosted remote cache (nx.ts)
 *   /cache/ccache/…          ccache's HTTP remote storage (ccache.ts)
 *   /cache/gradle/{key}      Gradle's HTTP build cache (gradle.ts)
 *   /twirp/…, /_apis/artifactcache/…, /actions-cache/blobs/…
 *                            the GitHub Actions cache service, v2 and v1 (actions/routes.ts)
 * Each authenticates the job token its own way (job.ts: Bearer, or HTTP Basic with the token as
 * the password for ccache and Gradle) and names no project: the token's.
 */
import Router from '@koa/router';
import type { TokenVerifier } from '../auth/job-token';
import type { RequestState } from '../http/request-context';
import { KeyedCache, type KeyedCacheDeps } from './keyed-cache';
import { actionsCacheRoutes } from './actions/routes';
import { bazelRoutes } from './bazel';
import { ccacheRoutes } from './ccache';
import { gradleRoutes } from './gradle';
import { nxRoutes } from './nx';
import { turboRoutes } from './turbo';

export function protocolRoutes(deps: KeyedCacheDeps & { tokens: TokenVerifier; actionsUploadKey: Buffer; now: () => number }): Router<RequestState> {
  const cache = new KeyedCache(deps);
  const router = new Router<RequestState>();
  router.use(turboRoutes({ tokens: deps.tokens, cache }).routes());
  router.use(bazelRoutes({ tokens: deps.tokens, cache }).routes());
  router.use(nxRoutes({ tokens: deps.tokens, cache }).routes());
  router.use(ccacheRoutes({ tokens: deps.tokens, cache }).routes());
  router.use(gradleRoutes({ tokens: deps.tokens, cache }).routes());
  router.use(actionsCacheRoutes({ ...deps, cache, uploadKey: deps.actionsUploadKey }).routes());
  return router;
}
