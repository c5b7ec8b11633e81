/**
 * Runs the app on a port and stops it gracefully: on stop() the server refuses new connections,
 * /readyz turns 503, in-flight requests finish (up to the shutdown timeout), then the rest are cut.
 */
import type { Server } from 'node:http';
import type Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import type { Config } from './config';
import { describeConfig } from './config';
import type { Lifecycle } from './http/health';
import type { RequestState } from './http/request-context';
import type { Logger } from './http/logger';
import { createMetrics } from './http/metrics';
import { createHttpServer } from './http/node-server';
import { createStorage } from './storage/create-storage';
import type { Storage } from './storage/storage';
import { runGc } from './retention/gc';
import { resolveSigningSecret } from './auth/secret-file';
import { createAuth } from './auth';

export interface RunningServer {
  server: Server;
  /** Base URL the server answers on (bound address, not PUBLIC_URL). */
  address: AddressInfo;
  stop(): Promise<void>;
}

/** The app and what it runs on, built from the configuration; nothing listens yet. */
export interface Gateway {
  app: Koa<RequestState>;
  storage: Storage;
  lifecycle: Lifecycle;
}

export async function createGateway(config: Config, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics({ defaultMetrics: true });
  const secret = await resolveSigningSecret(config);
  const { storage, blobs, storageOrigin } = await createStorage(config, metrics, secret, logger);
  const auth = await createAuth(config, secret);
  // say at start, not at the first request, when storage is unreachable or a bucket is missing;
  // keep running: storage may come up later, and /readyz reports it meanwhile
  await storage
    .ping()
    .catch((err: unknown) =>
      logger.error(
        { err },
        config.storage.driver === 's3' && !config.storage.createBuckets
          ? 'storage does not answer: check S3_ENDPOINT and credentials, and that both buckets exist (S3_CREATE_BUCKETS=true creates them, for development)'
          : 'storage does not answer',
      ),
    );
  const lifecycle: Lifecycle = { draining: false };
  const app = createApp({ config, storage, blobs, storageOrigin, auth, logger, metrics, lifecycle });
  return { app, storage, lifecycle };
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  for (const warning of config.warnings) logger.warn(warning);
  logger.info({ config: describeConfig(config) }, 'effective configuration');
  const { app, storage, lifecycle } = await createGateway(config, logger);

  const server = createHttpServer(app.callback(), { headersTimeoutMs: config.headersTimeoutMs });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const stopGc = scheduleGc(config, storage, logger);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      lifecycle.draining = true;
      stopGc();
      logger.info({ timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn('shutdown timeout reached: closing remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await storage.close();
      logger.info('stopped');
    })());

  return { server, address, stop };
}

/** GC_INTERVAL_MINUTES > 0: retention in-process, never two passes at once. Returns a stopper. */
function scheduleGc(config: Config, storage: Storage, logger: Logger): () => void {
  if (config.gcIntervalMinutes === 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runGc({ storage, config, logger })
      .then((report) => logger.info({ report }, 'gc finished'))
      .catch((err: unknown) => logger.error({ err }, 'gc failed'))
      .finally(() => {
        running = false;
      });
  }, config.gcIntervalMinutes * 60_000);
  timer.unref();
  return () => clearInterval(timer);
}
