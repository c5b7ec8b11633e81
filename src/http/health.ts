/**
 * /healthz: the process answers (liveness; never touches storage, so a storage outage does not
 * get every instance restarted). /readyz: storage answers and we are not shutting down
 * (readiness: take the instance out of the upstream pool).
 */
import Router from '@koa/router';
import type { Storage } from '../storage/storage';
import type { Metrics } from './metrics';
import type { RequestState } from './request-context';

export interface Lifecycle {
  /** True once SIGTERM arrived: /readyz fails so load balancers drain us. */
  draining: boolean;
}

const READY_TIMEOUT_MS = 2000;

export function healthRoutes(deps: { storage: Storage; metrics: Metrics; lifecycle: Lifecycle }): Router<RequestState> {
  const router = new Router<RequestState>();
  router.get('/healthz', (ctx) => {
    ctx.state.routeClass = 'health';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.state.routeClass = 'health';
    ctx.set('Cache-Control', 'no-store');
    if (deps.lifecycle.draining) {
      ctx.status = 503;
      ctx.body = { status: 'draining' };
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        deps.storage.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
        }),
      ]);
      ctx.body = { status: 'ready', storage: deps.storage.driver };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', storage: deps.storage.driver, reason: 'storage does not answer' };
    } finally {
      clearTimeout(timer);
    }
  });
  router.get('/metrics', async (ctx) => {
    ctx.state.routeClass = 'metrics';
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
}
