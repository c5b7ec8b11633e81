/**
 * A real app on a real driver, as the HTTP tests use it, plus what they need to act as a CI job
 * (mint tokens) or a viewer (mint tickets). The clock is controllable.
 */
import { createApp } from '../../src/app';
import { createAuth, type Auth } from '../../src/auth';
import { mintJobToken, type JobClaims } from '../../src/auth/job-token';
import type { Lifecycle } from '../../src/http/health';
import { createMetrics, type Metrics } from '../../src/http/metrics';
import type { DriverHarness, DriverName } from './drivers';
import { makeDriver } from './drivers';
import { captureLogger } from './make-config';

export interface TestApp {
  harness: DriverHarness;
  auth: Auth;
  metrics: Metrics;
  log: ReturnType<typeof captureLogger>;
  lifecycle: Lifecycle;
  callback: ReturnType<ReturnType<typeof createApp>['callback']>;
  clock: { now: number };
  /** A job token for project/build with the given scopes (all four by default). */
  token(claims?: Partial<JobClaims>, expiresInSeconds?: number): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeTestApp(driver: DriverName, env: Record<string, string> = {}): Promise<TestApp> {
  const metrics = createMetrics();
  const harness = await makeDriver(driver, metrics, env);
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const auth = await createAuth(harness.config, harness.config.signingSecret!, now);
  const log = captureLogger();
  const lifecycle = { draining: false };
  let ids = 0;
  const app = createApp({
    config: harness.config,
    storage: harness.storage,
    blobs: harness.blobs,
    storageOrigin: harness.storageOrigin,
    auth,
    logger: log.logger,
    metrics,
    lifecycle,
    newId: () => `req-${++ids}`,
    now,
  });
  return {
    harness,
    auth,
    metrics,
    log,
    lifecycle,
    callback: app.callback(),
    clock,
    token: (claims = {}, expiresInSeconds = 600) =>
      mintJobToken(
        auth.jobTokenKey,
        {
          project: 'acme/web',
          build: '100',
          branch: 'main',
          default_branch: 'main',
          trusted: true,
          scope: 'artifacts:write artifacts:read cache:read cache:write',
          ...claims,
        },
        { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds, now },
      ),
    cleanup: () => harness.cleanup(),
  };
}
