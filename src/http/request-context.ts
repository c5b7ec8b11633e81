/**
 * First middleware: gives every request an id, and when the response is finished writes ONE
 * access-log line and the request metrics. It wraps everything else, so it sees the final status
 * (after the error handler) and the real duration of streamed bodies.
 */
import type { Middleware } from 'koa';
import type { Logger } from './logger';
import { redactUrl } from './logger';
import type { Metrics } from './metrics';

export interface RequestState {
  requestId: string;
  /** Which part of the gateway answered: api, artifact, blob, health, metrics, unknown. */
  routeClass: string;
}

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestContext(deps: { logger: Logger; metrics: Metrics; trustProxy: boolean; newId: () => string }): Middleware<RequestState> {
  const { logger, metrics, trustProxy, newId } = deps;
  // a plain function, not an async one: it only sets up, and an await would cost every request a
  // microtask hop (bench figure 1)
  return (ctx, next) => {
    const start = process.hrtime.bigint();
    // an id from the proxy in front ties its log to ours; from anyone else it is not believed
    const incoming = trustProxy ? ctx.get('x-request-id') : '';
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : newId();
    ctx.state.requestId = requestId;
    ctx.state.routeClass = 'unknown';
    ctx.set('x-request-id', requestId); // lower-case: see http/location.ts

    // node emits 'close' on every response, after 'finish' or when the client went away first
    // (http/node-server.ts does the same for CONNECT): one listener sees both
    const done = () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const aborted = !ctx.res.writableFinished;
      const status = aborted ? 499 : ctx.status; // nginx's code for "client closed the request"
      metrics.http.record(ctx.state.routeClass, ctx.method, status, seconds);
      // below info (LOG_LEVEL=warn) pino would drop the line, but only after it was built:
      // redactUrl, the header look-ups and ctx.ip are measurable on the redirect path
      if (!logger.isLevelEnabled('info')) return;
      logger.info(
        {
          reqId: requestId,
          method: ctx.method,
          host: ctx.get('host'),
          url: redactUrl(ctx.originalUrl),
          status,
          bytes: ctx.res.getHeader('content-length') ?? undefined,
          ms: Math.round(seconds * 1e4) / 10,
          route: ctx.state.routeClass,
          ip: ctx.ip,
          ua: ctx.get('user-agent') || undefined,
        },
        'request',
      );
    };
    ctx.res.once('close', done);
    return next();
  };
}
