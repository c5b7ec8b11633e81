/**
 * The ONE place errors become HTTP responses. Handlers throw typed errors (src/errors.ts) or Koa's
 * http-errors; this turns them into `{error: {code, message, requestId}}` with the right status.
 * 5xx messages are never shown to the client (they may hold storage details), only logged. A
 * client that went away is not an error.
 */
import escapeHtml from 'escape-html';
import type { Context, Middleware, ParameterizedContext } from 'koa';
import statuses from 'statuses';
import { AppError, ConflictError, IssuerUnavailableError, RangeNotSatisfiableError, StorageUnavailableError } from '../errors';
import type { Logger } from './logger';
import type { RequestState } from './request-context';

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  code?: string;
  message?: string;
}

const ABORT_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR', 'ECONNABORTED']);

/**
 * The client went away: its connection is gone and the error is the one that says so. Not
 * `req.destroyed`: node destroys a request once its body has been read to the end, so a storage
 * socket error (ECONNRESET from S3) after a complete upload would pass for a hang-up and leave
 * the request unanswered (Koa then sends a bare 404).
 */
export function isClientAbort(ctx: Context, err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  const gone = ctx.req.socket?.destroyed !== false || ctx.res.destroyed;
  return gone && code !== undefined && ABORT_CODES.has(code);
}

export function errorBody(status: number, code: string, message: string, requestId: string) {
  return { error: { code, message, status, requestId } };
}

const SUCCESS_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'content-disposition',
  'content-encoding',
  'etag',
  'last-modified',
  'accept-ranges',
  'location',
  'set-cookie',
];

function errorPage(status: number, message: string, requestId: string): string {
  const title = `${status} ${statuses.message[status] ?? 'Error'}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:15px system-ui,sans-serif;margin:3rem auto;max-width:40rem;padding:0 1rem}code{background:#eee;padding:0 .2em}</style>
</head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>
<p><small>Request id: ${escapeHtml(requestId)}</small></p></body></html>
`;
}

export function errorHandler(logger: Logger): Middleware<RequestState> {
  // a plain function that handles the rejection costs every request one promise less than an
  // async try/await (bench figure 1); koa-compose's next() rejects rather than throws, but a
  // synchronous throw is caught all the same
  return (ctx, next) => {
    try {
      return next().then(undefined, (err: unknown) => handle(ctx, err));
    } catch (err) {
      handle(ctx, err);
      return Promise.resolve();
    }
  };

  function handle(ctx: ParameterizedContext<RequestState>, err: unknown): void {
    if (isClientAbort(ctx, err)) {
      logger.debug({ reqId: ctx.state.requestId }, 'client went away');
      return;
    }
    const e = err as HttpLikeError;
    const status = err instanceof AppError ? err.status : (e.status ?? e.statusCode ?? 500);
    const safeStatus = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
    const expose = err instanceof AppError ? err.expose : e.expose === true && safeStatus < 500;
    const code = err instanceof AppError ? err.code : safeStatus >= 500 ? 'internal_error' : 'http_error';
    if (safeStatus >= 500) {
      logger.error({ reqId: ctx.state.requestId, err }, 'request failed');
    }
    if (ctx.headerSent || !ctx.writable) {
      // the status line is gone; the only honest signal left is to cut the connection
      ctx.req.socket?.destroy();
      return;
    }
    // headers that describe the success response must not leak into the error; security
    // headers, Allow, WWW-Authenticate and Vary stay
    for (const name of SUCCESS_HEADERS) ctx.remove(name);
    ctx.status = safeStatus;
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    if (err instanceof RangeNotSatisfiableError) ctx.set('Content-Range', `bytes */${err.size}`);
    let message = expose ? (e.message ?? 'error') : 'internal error; quote the request id when reporting it';
    if (err instanceof StorageUnavailableError) {
      message = 'storage is unreachable; retry later';
      ctx.set('Retry-After', '5');
    }
    if (err instanceof IssuerUnavailableError) {
      // which issuer and what failed is in the log; the job only needs to know it is not its token
      message = "the token's issuer could not be reached to verify it (its keys or discovery document); retry later";
      ctx.set('Retry-After', '10');
    }
    const body = errorBody(safeStatus, code, message, ctx.state.requestId);
    if (err instanceof ConflictError && err.details) Object.assign(body.error, { existing: err.details });
    // people reach artifact origins with a browser: give them a page, scripts still get JSON
    if (ctx.state.routeClass === 'artifact' && ctx.accepts('json', 'html') === 'html') {
      ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = errorPage(safeStatus, message, ctx.state.requestId);
      return;
    }
    ctx.body = body;
  }
}
