/**
 * The GitHub Actions cache service, as @actions/cache 6.x (actions/cache, setup-node's cache…)
 * calls it on a runner whose ACTIONS_RESULTS_URL / ACTIONS_CACHE_URL point at the gateway:
 *   /twirp/github.actions.results.api.v1.CacheService/…   v2 (twirp.ts)
 *   /actions-cache/blobs/{project}/{uploadId}?…sig=…      v2's signed Azure Block Blob upload URL (blob.ts)
 *   /_apis/artifactcache/…                                v1 (rest.ts)
 * Both write into the job's write scope and restore from its read scopes through the keyed
 * cache (keyed-cache.ts), under `actions/<version>/<key>`; uploads in progress are uploads.ts.
 * Downloads are the cache store's presigned URLs, which the client GETs without credentials.
 */
import Router from '@koa/router';
import type { TokenVerifier } from '../../auth/job-token';
import type { RequestState } from '../../http/request-context';
import type { KeyedCache, KeyedCacheDeps } from '../keyed-cache';
import { blobRoutes } from './blob';
import { restRoutes } from './rest';
import { twirpRoutes } from './twirp';
import { UploadUrlSigner } from './upload-url';
import { ActionsUploads } from './uploads';

export interface ActionsCacheDeps extends KeyedCacheDeps {
  tokens: TokenVerifier;
  cache: KeyedCache;
  /** The HMAC key of the upload URLs. */
  uploadKey: Buffer;
  now: () => number;
}

export function actionsCacheRoutes(deps: ActionsCacheDeps): Router<RequestState> {
  const { config, store, storage, tokens, cache, now } = deps;
  const uploads = new ActionsUploads({ storage, store, config, now });
  const signer = new UploadUrlSigner(deps.uploadKey, config.publicUrl.origin, now);
  const router = new Router<RequestState>();
  router.use(twirpRoutes({ config, tokens, cache, store, storage, uploads, signer }).routes());
  router.use(blobRoutes({ config, uploads, signer }).routes());
  router.use(restRoutes({ config, tokens, cache, store, storage, uploads }).routes());
  return router;
}
