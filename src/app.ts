/**
 * createApp: builds the Koa app from its dependencies. No I/O and no process.env here; main/serve
 * owns the process. The middleware order is the whole request path, one step per line below.
 */
import Koa, { type Middleware } from 'koa';
import compose from 'koa-compose';
import Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import type { Config } from './config';
import { BadRequestError, MethodNotAllowedError, MisdirectedRequestError, NotFoundError } from './errors';
import { createHostResolver, type HostResolver } from './hosts';
import { errorHandler } from './http/error-handler';
import { blobRoute } from './http/fs-blob-route';
import type { BlobStore } from './storage/fs/blob-url';
import { healthRoutes, type Lifecycle } from './http/health';
import { homeRoutes, type About } from './http/home';
import { clientBundleRoutes } from './http/client-bundle';
import { API_HELMET, koaHelmet } from './http/helmet';
import type { Logger } from './http/logger';
import { createMetrics, type Metrics } from './http/metrics';
import { requestContext, type RequestState } from './http/request-context';
import type { Storage } from './storage/storage';
import type { Auth } from './auth';
import { artifactApiRoutes } from './artifacts/api-routes';
import { buildAdminRoutes } from './artifacts/build-admin-routes';
import { projectPages } from './artifacts/browse';
import { artifactHeaders, strictProjects } from './artifacts/helmet-policy';
import { readOnly, resolveOrigin, serveArtifacts } from './artifacts/origin';
import { requireViewer, viewerSignIn, type OriginState } from './auth/viewer-session';
import { peopleRoutes } from './auth/people-routes';
import { ArtifactStore } from './artifacts/store';
import { CacheAdmin } from './caches/admin';
import { cacheAdminRoutes } from './caches/admin-routes';
import { cacheApiRoutes } from './caches/routes';
import { CacheStore } from './caches/store';
import { protocolRoutes } from './protocols/routes';

export interface AppDeps {
  config: Config;
  storage: Storage;
  logger: Logger;
  /** The fs driver, whose signed blob URLs the API host serves; absent on s3 (S3 serves its own). */
  blobs?: BlobStore;
  /** Origin of presigned URLs (the bucket's, or the API host's for fs): allowed in artifact CSPs. */
  storageOrigin: string;
  auth: Pick<Auth, 'tokens' | 'viewers' | 'actionsUploadKey' | 'people'>;
  /** The clock; injected so tests can move time. */
  now?: () => number;
  metrics?: Metrics;
  lifecycle?: Lifecycle;
  /** Request ids; injected so tests can predict them. */
  newId?: () => string;
  /** What GET / names; read from package.json on the first request when absent. */
  about?: About;
}

const noop = async () => undefined;

export function createApp(deps: AppDeps): Koa<RequestState> {
  const { config, storage, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const lifecycle = deps.lifecycle ?? { draining: false };
  const hosts = createHostResolver(config);
  const app = new Koa<RequestState>({ proxy: config.trustProxy });
  // errors are logged by errorHandler/requestContext; Koa's default stderr print would duplicate them
  app.silent = true;

  const now = deps.now ?? Date.now;
  // audit lines carry their event as `audit: '<event>'`; a child binding would repeat the key
  const audit = logger;
  const store = new ArtifactStore(storage, config.isolation, now);
  const blobs = deps.blobs && blobRoute(deps.blobs);
  const caches = new CacheStore(storage, now);

  const apiRouter = apiRoutes(deps, { artifacts: store, caches, hosts, metrics, lifecycle, audit, now });
  // the API host: JSON for CI jobs and scripts, nothing that renders user content
  const api = compose([
    // 5a-i. the API host's headers (default-src 'none': nothing here may render or run)
    koaHelmet(API_HELMET),
    // 5a-ii. the routes of apiRoutes() below; a known path with another method gets 405 with Allow
    apiRouter.routes() as Middleware,
    apiRouter.allowedMethods() as Middleware,
  ]);
  // an artifact origin: one project's (or build's) files, isolated from all others
  const strict = strictProjects(config, deps.storageOrigin);
  const artifacts = compose<Koa.ParameterizedContext<OriginState>>([
    // 5b-i. the isolation headers on every answer of the origin, errors and redirects included,
    // with CONTENT_POLICY's CSP (reports: https subresources allowed; strict: the origin's own)
    artifactHeaders(config, deps.storageOrigin),
    // 5b-ii. GET and HEAD only, before any look-up
    readOnly,
    // 5b-iii. label -> project (and build with ISOLATION=build); 404 when nothing was published
    resolveOrigin(store, config),
    // 5b-iii'. a project in STRICT_CONTENT_PROJECTS gets the strict CSP instead (only when some is listed)
    ...(strict ? [strict] : []),
    // 5b-iv. /_auth: a viewer's ticket becomes this origin's session cookie; /_logout clears it
    viewerSignIn({ config, viewers: deps.auth.viewers, audit, people: deps.auth.people !== undefined }),
    // 5b-v. a private project's files need that session; public ones need nothing. A browser
    // without one is sent to the API host's /login when people sign in there (VIEWER_OIDC_ISSUER)
    requireViewer({ config, viewers: deps.auth.viewers, people: deps.auth.people !== undefined }),
    // 5b-vi. the project's own pages: its home `/` (builds newest first) and `/-/latest/` links
    projectPages({ config, store }),
    // 5b-vii. the file, directory index or listing: inline, or a 302 to a presigned URL
    serveArtifacts({ config, store, storage, now }),
  ]);

  // 1. request id, one access-log line and metrics per request; outermost so it sees the final status
  app.use(requestContext({ logger, metrics, trustProxy: config.trustProxy, newId: deps.newId ?? randomUUID }));
  // 2. every thrown error becomes {error:{code,message}} with its status, in one place
  app.use(errorHandler(logger));
  // 3. while draining, ask keep-alive clients to reconnect elsewhere (in step 4's function: one
  // middleware less on every request)
  // 4. cheap rejections before anything touches storage: method, request target, then Host.
  // A plain function (no await of its own): the artifact origin's redirect path runs it on every
  // request, and an async function costs each one a promise (bench figure 1).
  const answerApi = async (ctx: Koa.ParameterizedContext<RequestState>): Promise<void> => {
    // 5a. the fs driver's signed blob URLs, then the API host's routes, steps 5a-i and 5a-ii above
    if (blobs) await blobs(ctx, () => api(ctx, noop) as Promise<void>);
    else await api(ctx, noop);
    // the router answers 405/501 (with Allow) or nothing; both become JSON errors here
    if (ctx.status === 405 || ctx.status === 501) {
      throw new MethodNotAllowedError(`${ctx.method} is not allowed here; allowed: ${ctx.response.get('allow') || 'none'}`);
    }
    if (ctx.status === 404 && ctx.body == null) throw new NotFoundError('no such endpoint');
  };
  app.use((ctx, next) => {
    if (lifecycle.draining) ctx.set('Connection', 'close');
    if (ctx.method === 'CONNECT') {
      // node:http hands CONNECT to the server's 'connect' event; http/node-server.ts routes it here
      ctx.set('Allow', 'GET, HEAD, PUT, POST, DELETE');
      throw new MethodNotAllowedError('CONNECT is not allowed: this gateway is not a proxy');
    }
    if (!ctx.req.url?.startsWith('/')) {
      throw new BadRequestError('the request target must be a path (origin-form), not an absolute URL', 'bad_request_target');
    }
    // node keeps the first of several Host headers; a proxy in front may route by the last, so a
    // request could be authorised for one origin and served from another (RFC 9112 §3.2: 400)
    if (hostHeaderCount(ctx.req.rawHeaders) > 1) {
      throw new BadRequestError('the request has more than one Host header', 'bad_host');
    }
    const host = hosts.resolve(ctx.get('host'));
    switch (host.kind) {
      case 'api':
        ctx.state.routeClass = 'api';
        return answerApi(ctx);
      case 'artifact':
        // 5b. an artifact origin, steps 5b-i to 5b-vii above
        ctx.state.routeClass = 'artifact';
        (ctx.state as OriginState).label = host.label;
        return artifacts(ctx as Koa.ParameterizedContext<OriginState>, next);
      case 'unknown':
        throw new MisdirectedRequestError(`this gateway does not serve that host (${host.reason})`);
    }
  });
  return app;
}

export interface ApiParts {
  artifacts: ArtifactStore;
  caches: CacheStore;
  hosts: HostResolver;
  metrics: Metrics;
  lifecycle: Lifecycle;
  audit: Logger;
  /** The clock signed upload URLs expire by. */
  now?: () => number;
}

/**
 * Every route of the API host, in one router, in the order they are tried. docs/openapi.yaml
 * describes each one; test/openapi.test.ts reads this router's stack to prove it.
 */
export function apiRoutes(deps: Pick<AppDeps, 'config' | 'storage' | 'auth' | 'about'>, parts: ApiParts): Router<RequestState> {
  const { config, storage } = deps;
  const tokens = deps.auth.tokens;
  const router = new Router<RequestState>();
  // GET /: name, version and links, for whoever opens the API host's address; GET /openapi.yaml
  router.use(homeRoutes({ about: deps.about }).routes());
  // /login, its callback and /logout: people sign in with the organisation's OpenID provider
  router.use(
    peopleRoutes({ config, people: deps.auth.people, viewers: deps.auth.viewers, store: parts.artifacts, hosts: parts.hosts, audit: parts.audit }).routes(),
  );
  // GET /client/artifact-gateway.cjs: the runner client in one file, for CI jobs to fetch
  router.use(clientBundleRoutes().routes());
  // /healthz, /readyz, /metrics
  router.use(healthRoutes({ storage, metrics: parts.metrics, lifecycle: parts.lifecycle }).routes());
  // /api/v1/projects/{project}/builds/{build}/artifacts…: upload, list, download (job token)
  router.use(artifactApiRoutes({ config, store: parts.artifacts, storage, tokens, hosts: parts.hosts, audit: parts.audit, now: parts.now }).routes());
  // DELETE a build or a path of it, PUT/DELETE …/builds/{build}/pin (job token with artifacts:delete)
  router.use(buildAdminRoutes({ store: parts.artifacts, storage, tokens, audit: parts.audit, now: parts.now }).routes());
  // /api/v1/projects/{project}/caches…: restore, save, direct uploads (job token)
  router.use(cacheApiRoutes({ config, store: parts.caches, storage, tokens, audit: parts.audit }).routes());
  // /api/v1/projects/{project}/cache-entries and /cache-usage: list, delete, usage (job token)
  const admin = new CacheAdmin(storage, parts.caches, config.caches);
  router.use(cacheAdminRoutes({ admin, tokens, audit: parts.audit }).routes());
  // build tools' own cache protocols on the same cache store and job tokens: turbo's /v8/…,
  // Bazel's /cache/bazel/…, Nx's /v1/cache/…, the GitHub Actions cache service's /twirp/… and /_apis/artifactcache/…
  router.use(
    protocolRoutes({
      config,
      store: parts.caches,
      storage,
      metrics: parts.metrics,
      audit: parts.audit,
      tokens,
      actionsUploadKey: deps.auth.actionsUploadKey,
      now: parts.now ?? Date.now,
    }).routes(),
  );
  return router;
}

function hostHeaderCount(rawHeaders: string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === 4 && rawHeaders[i].toLowerCase() === 'host') n++;
  return n;
}
