/**
 * The error handler tells a client that hung up from a storage connection that failed: only the
 * first goes unanswered. Found by the fault campaign: an S3 connection reset after a complete
 * upload body was taken for a hang-up, and the client got a bare 404.
 */
import Koa from 'koa';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { errorHandler } from '../../src/http/error-handler';
import { createHttpServer } from '../../src/http/node-server';
import type { RequestState } from '../../src/http/request-context';
import { captureLogger } from '../support/make-config';

function socketError(code: string): Error {
  return Object.assign(new Error(`socket failed: ${code}`), { code });
}

/** The error handler in front of `handler`, as the gateway's chain has it. */
function appWith(handler: Koa.Middleware<RequestState>) {
  const log = captureLogger('debug');
  const app = new Koa<RequestState>();
  app.silent = true; // as the gateway's app: errors are the handler's to log
  app.use(async (ctx, next) => {
    ctx.state.requestId = 'req-1';
    await next();
  });
  app.use(errorHandler(log.logger));
  app.use(handler);
  return { app, log };
}

/** An app whose one handler reads the whole body, then fails as `fail` says. */
function appFailingAfterBody(fail: () => Error) {
  return appWith(async (ctx) => {
    for await (const chunk of ctx.req) void chunk;
    throw fail();
  });
}

describe('errors after the request body was read', () => {
  it.each(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED'])(
    'answers 500 with a JSON error when a storage socket fails with %s while the client waits',
    async (code) => {
      const { app, log } = appFailingAfterBody(() => socketError(code));
      const res = await request(app.callback())
        .put('/x')
        .send(Buffer.alloc(64 * 1024, 1));
      expect(res.status).toBe(500);
      expect(res.body.error).toMatchObject({ code: 'internal_error', requestId: 'req-1' });
      expect(log.lines.some((l) => l.msg === 'request failed')).toBe(true);
    },
  );
});

describe('a client that hangs up mid-body', () => {
  it('is not logged as a failed request', async () => {
    let failed: (err: unknown) => void = () => undefined;
    const handlerFailed = new Promise((resolve) => (failed = resolve));
    const { app, log } = appWith(async (ctx) => {
      try {
        for await (const chunk of ctx.req) void chunk;
      } catch (err) {
        failed(err);
        throw err;
      }
    });
    const server = createHttpServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const req = httpRequest({ port, host: '127.0.0.1', method: 'PUT', path: '/x', headers: { 'content-length': '1000000' } });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(1000, 1));
      setTimeout(() => req.destroy(), 50);
      const err = (await handlerFailed) as { code?: string };
      expect(err.code).toBe('ECONNRESET');
      await new Promise((r) => setTimeout(r, 50));
      expect(log.lines.some((l) => l.msg === 'client went away')).toBe(true);
      expect(log.lines.some((l) => l.msg === 'request failed')).toBe(false);
    } finally {
      server.close();
    }
  });
});
