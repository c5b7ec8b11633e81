/**
 * When storage cannot be reached the gateway answers quickly and clearly: 503 with Retry-After
 * and a request id, readiness fails, liveness does not; never a hang or a crash.
 */
import { createApp } from '../../src/app';
import { createAuth } from '../../src/auth';
import { mintJobToken } from '../../src/auth/job-token';
import { createMetrics } from '../../src/http/metrics';
import { createStorage } from '../../src/storage/create-storage';
import { captureLogger, makeConfig } from '../support/make-config';
import { listen, raw, type Listening } from '../support/raw-http';

describe('with the S3 server unreachable', () => {
  let srv: Listening;
  let token: string;
  let log: ReturnType<typeof captureLogger>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const config = makeConfig({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:9', // discard port: nothing listens, connections are refused
      S3_ACCESS_KEY_ID: 'x',
      S3_SECRET_ACCESS_KEY: 'y',
      ARTIFACTS_BUCKET: 'down-artifacts',
      CACHE_BUCKET: 'down-cache',
    });
    const metrics = createMetrics();
    const bundle = await createStorage(config, metrics, config.signingSecret!);
    close = () => bundle.storage.close();
    const auth = await createAuth(config, config.signingSecret!);
    log = captureLogger();
    const app = createApp({ config, ...bundle, auth, logger: log.logger, metrics });
    srv = await listen(app.callback());
    token = await mintJobToken(
      auth.jobTokenKey,
      { project: 'acme/web', build: '1', branch: 'main', default_branch: 'main', trusted: true, scope: 'artifacts:read cache:read' },
      { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 60 },
    );
  });
  afterAll(async () => {
    await srv.close();
    await close();
  });

  it('answers an API call with 503, Retry-After and the request id', async () => {
    const res = await raw(srv.port, {
      path: '/api/v1/projects/acme%2Fweb/caches?keys=k',
      headers: { host: 'localhost:8080', authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json().error).toEqual({
      code: 'storage_unavailable',
      message: 'storage is unreachable; retry later',
      status: 503,
      requestId: res.headers['x-request-id'],
    });
    // the log has the cause, the client does not
    expect(log.text()).toMatch(/ECONNREFUSED/);
    expect(res.text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
  });

  it('fails /readyz but not /healthz', async () => {
    expect((await raw(srv.port, { path: '/readyz', headers: { host: 'localhost:8080' } })).status).toBe(503);
    expect((await raw(srv.port, { path: '/healthz', headers: { host: 'localhost:8080' } })).status).toBe(200);
  });
});
