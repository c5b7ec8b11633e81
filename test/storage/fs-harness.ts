/**
 * The fs driver in a temp dir, with its blob route served on 127.0.0.1, so presigned URLs can be
 * fetched for real. Shared by the contract run and the fs-specific tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { AppError } from '../../src/errors';
import { blobRoute } from '../../src/http/fs-blob-route';
import { FsStorage } from '../../src/storage/fs/driver';

export interface FsHarness {
  storage: FsStorage;
  root: string;
  /** http://127.0.0.1:<port>, where the blob route (and a 'next' marker) answer. */
  origin: string;
  /** Added to the real time the storage sees, so tests can move past an expiry without waiting. */
  clock: { offsetMs: number };
  cleanup(): Promise<void>;
}

export async function startFsHarness(): Promise<FsHarness> {
  const root = await mkdtemp(join(tmpdir(), 'agw-fs-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clock = { offsetMs: 0 };
  const storage = new FsStorage({
    root,
    blobBaseUrl: `${origin}/_blob`,
    signingSecret: 'test-secret-0123456789abcdef',
    now: () => Date.now() + clock.offsetMs,
  });
  const app = new Koa();
  // stands in for the app's error middleware: typed errors become {error: {code, message}}
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const status = err instanceof AppError ? err.status : 500;
      ctx.status = status;
      ctx.body = {
        error: {
          code: err instanceof AppError ? err.code : 'internal',
          message: err instanceof AppError && err.expose ? err.message : 'internal error',
        },
      };
    }
  });
  // errors after the headers went out; a client hanging up mid-body is expected in these tests
  const hangUps = ['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR'];
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (!hangUps.includes(err.code ?? '')) console.error(err);
  });
  app.use(blobRoute(storage));
  app.use((ctx) => {
    ctx.body = 'next';
  });
  server.on('request', app.callback());
  return {
    storage,
    root,
    origin,
    clock,
    cleanup: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
}
