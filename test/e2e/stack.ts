/**
 * The whole edge on one machine, for the end-to-end suite: the run's real radosgw (jest global
 * setup), dev certificates from certs/make-dev-certs.sh, two `artifact-gateway serve` instances on
 * the s3 driver, and nginx rendered by nginx/run-local.sh from the production templates. Every
 * port is a free loopback port; the test domains resolve to 127.0.0.1 only inside Chromium
 * (--host-resolver-rules) and in the requests below (which connect to 127.0.0.1 with the right SNI
 * and Host), so nothing depends on /etc/hosts. With `people`, a real OpenID provider too
 * (test/support/oidc-people-provider.mjs on http://localhost:<port>), and the gateways sign people
 * in through it with a viewer policy: the acme-devs group may view e2e/*.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { originLabel } from '../../src/artifacts/labels';
import { createS3Client } from '../../src/storage/s3/client';
import { runCli, spawnCli, type Running } from '../support/cli';
import { emptyAndDeleteBucket, s3Env } from '../support/drivers';
import { freePort } from '../support/ports';
import { startPeopleProvider, type PeopleProvider } from '../support/people-provider';
import { raw } from '../support/raw-http';

const ROOT = resolve(__dirname, '../..');
const run = promisify(execFile);

export const API_HOST = 'api.agw.test';
export const ARTIFACT_DOMAIN = 'artifacts.agw.test';
/**
 * The public S3 host (nginx -> radosgw, Host kept for SigV4) must be a name radosgw knows as its
 * own: it takes any other for a bucket name. The run's radosgw has `rgw dns name = localhost`.
 */
export const S3_HOST = 'localhost';
/** For Chromium: the test names are loopback, everything else does not exist. */
export const HOST_RESOLVER_RULES = 'MAP *.agw.test 127.0.0.1, MAP localhost 127.0.0.1, MAP * ~NOTFOUND';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface GatewayInstance {
  port: number;
  running: Running;
  /** SIGTERM (graceful drain), resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface Stack {
  dir: string;
  httpsPort: number;
  httpPort: number;
  /** PEM of the development CA, and its path (for curl --cacert, certutil). */
  ca: Buffer;
  caPath: string;
  apiOrigin: string;
  s3Origin: string;
  /** https://<label>.artifacts.agw.test:<port> */
  origin(project: string): string;
  gateways: GatewayInstance[];
  /** The OpenID provider people sign in with, when started with `people`. */
  provider?: PeopleProvider;
  /** The environment the gateways run with: give it to `token` and `ticket` too. */
  gatewayEnv: Record<string, string>;
  /** A request through nginx (TLS verified against the dev CA), as a client of `url` would send it. */
  fetch(url: string, options?: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: Agent }): Promise<HttpResult>;
  /** A job token for a project's build, minted by `artifact-gateway token`. */
  token(project: string, build: string): Promise<string>;
  upload(project: string, build: string, files: Record<string, string | Buffer>): Promise<void>;
  accessLog(): Promise<string>;
  /** Everything the processes printed, for a failure message. */
  logs(): string;
  stop(): Promise<void>;
}

/** Rethrows a test's failure with the end of what the stack's processes printed, so a CI log says why. */
export function explain(stack: Stack, err: unknown): never {
  throw new Error(`${(err as Error).message}\n--- stack output ---\n${stack.logs().slice(-4000)}`, { cause: err });
}

/** Stops what was started so far, newest first, even when a step fails. */
class Cleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];
  push(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()!();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Sends `signal` and waits for the exit; SIGKILLs the process and its children when that takes too long. */
async function terminate(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals, ms = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    await run('pkill', ['-KILL', '-P', String(child.pid)]).catch(() => undefined); // nginx's workers
    child.kill('SIGKILL');
    await exited;
  }
}

/** A process that should be serving has exited: no point in waiting any longer. */
class Exited extends Error {}

async function until<T>(what: string, ms: number, attempt: () => Promise<T | undefined>, detail: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof Exited) throw new Error(`${err.message} while waiting for ${what}\n${detail()}`, { cause: err });
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what} (${last instanceof Error ? last.message : JSON.stringify(last ?? 'no answer')})\n${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StackOptions {
  /** Start the test OpenID provider and have the gateways sign people in through it. */
  people?: boolean;
  /** Variables for the gateways on top of the suite's own (PUBLIC_PROJECTS, the content policy…). */
  env?: Record<string, string>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cleanup = new Cleanup();
  const output: string[] = [];
  let providerOutput = () => '';
  // the AWS SDK's notice about future Node.js versions, printed by every gateway, says nothing here
  const logs = () =>
    providerOutput() + output.join('').replace(/^\[gateway \d\] \(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*?--trace-warnings[^\n]*\n/gm, '');
  try {
    const dir = await mkdtemp(join(tmpdir(), 'agw-e2e-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const [httpsPort, httpPort, gw1, gw2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const apiOrigin = `https://${API_HOST}:${httpsPort}`;
    const s3Origin = `https://${S3_HOST}:${httpsPort}`;

    // 1. certificates, exactly as a developer makes them
    const certs = join(dir, 'certs');
    await run('bash', [join(ROOT, 'certs/make-dev-certs.sh'), certs], {
      env: { PATH: process.env.PATH, API_HOST, ARTIFACT_DOMAIN, EXTRA_HOSTS: S3_HOST },
    });
    const caPath = join(certs, 'ca.crt');
    const ca = await readFile(caPath);

    // 2. two gateway instances on the s3 driver, one set of buckets, one secret
    const s3 = s3Env();
    const id = randomBytes(4).toString('hex');
    const gatewayEnv: Record<string, string> = {
      ...s3,
      HOST: '127.0.0.1',
      PUBLIC_URL: apiOrigin,
      ARTIFACT_DOMAIN,
      S3_PUBLIC_ENDPOINT: s3Origin,
      ARTIFACTS_BUCKET: `agw-e2e-artifacts-${id}`,
      CACHE_BUCKET: `agw-e2e-cache-${id}`,
      SIGNING_SECRET: randomBytes(32).toString('hex'),
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      PUBLIC_PROJECTS: 'e2e/alpha,e2e/beta',
      SHUTDOWN_TIMEOUT: '10',
      ...options.env,
    };
    let provider: PeopleProvider | undefined;
    if (options.people) {
      // http on loopback: the provider is reached as http://localhost:<port> by Chromium and the gateways alike
      provider = await startPeopleProvider({ host: 'localhost', redirectUris: [`${apiOrigin}/login/callback`] });
      const started = provider;
      cleanup.push(() => started.stop());
      providerOutput = () => started.output().replace(/^/gm, '[provider] ');
      const policy = join(dir, 'viewers.json');
      await writeFile(policy, JSON.stringify({ viewers: [{ groups: ['acme-devs'], projects: ['e2e/*'] }] }));
      Object.assign(gatewayEnv, {
        VIEWER_OIDC_ISSUER: provider.issuer,
        VIEWER_OIDC_CLIENT_ID: provider.clientId,
        VIEWER_OIDC_CLIENT_SECRET: provider.clientSecret,
        VIEWER_OIDC_SCOPES: 'openid email profile groups',
        VIEWER_POLICY_FILE: policy,
      });
    }
    cleanup.push(async () => {
      const client = createS3Client({
        endpoint: s3.S3_ENDPOINT,
        region: s3.S3_REGION,
        forcePathStyle: true,
        accessKeyId: s3.S3_ACCESS_KEY_ID,
        secretAccessKey: s3.S3_SECRET_ACCESS_KEY,
      });
      try {
        for (const bucket of [gatewayEnv.ARTIFACTS_BUCKET, gatewayEnv.CACHE_BUCKET]) {
          await emptyAndDeleteBucket(client, bucket).catch(() => undefined);
        }
      } finally {
        client.destroy();
      }
    });
    const gateways: GatewayInstance[] = [];
    for (const [i, port] of [gw1, gw2].entries()) {
      // the first instance creates the buckets; the second finds them
      const env = { ...gatewayEnv, PORT: String(port), S3_CREATE_BUCKETS: i === 0 ? 'true' : 'false' };
      const running = spawnCli(['serve'], env);
      running.child.stdout.on('data', (c) => output.push(`[gateway ${i + 1}] ${c}`));
      running.child.stderr.on('data', (c) => output.push(`[gateway ${i + 1}] ${c}`));
      const stop = async () => {
        await terminate(running.child, running.exit, 'SIGTERM');
        return running.exit;
      };
      cleanup.push(stop);
      gateways.push({ port, running, stop });
      // LOG_LEVEL=warn prints no start line: ready is when /readyz (storage answers) says so
      await until(
        `gateway ${i + 1} to be ready`,
        30_000,
        async () => {
          if (running.child.exitCode !== null) throw new Exited(`gateway ${i + 1} exited with ${running.child.exitCode}`);
          const res = await raw(port, { path: '/readyz', headers: { host: `${API_HOST}:${httpsPort}` } });
          return res.status === 200 ? true : undefined;
        },
        logs,
      );
    }

    // 3. nginx from the production templates, in the foreground, in a directory of its own
    const nginxDir = join(dir, 'nginx');
    const nginxEnv = {
      PATH: process.env.PATH ?? '',
      NGINX_DIR: nginxDir,
      API_HOST,
      ARTIFACT_DOMAIN,
      LISTEN_ADDRESS: '127.0.0.1',
      HTTPS_PORT: String(httpsPort),
      HTTP_PORT: String(httpPort),
      TLS_CERTIFICATE: join(certs, 'server.crt'),
      TLS_CERTIFICATE_KEY: join(certs, 'server.key'),
      GATEWAY_1: `127.0.0.1:${gw1}`,
      GATEWAY_2: `127.0.0.1:${gw2}`,
      MAX_UPLOAD_BYTES: String(10 * 1024 ** 3), // the larger of ARTIFACT_MAX_BYTES and CACHE_MAX_BYTES
      S3_PUBLIC_HOST: S3_HOST,
      S3_UPSTREAM: new URL(s3.S3_ENDPOINT).host,
    };
    // run-local.sh execs nginx: the child is nginx's master process
    const nginx = spawn('bash', [join(ROOT, 'nginx/run-local.sh')], { env: nginxEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const nginxExit = new Promise<number | null>((r) => nginx.once('close', (code) => r(code)));
    nginx.stdout.on('data', (c) => output.push(`[nginx] ${c}`));
    nginx.stderr.on('data', (c) => output.push(`[nginx] ${c}`));
    // SIGQUIT: graceful, finishes what is in flight
    cleanup.push(() => terminate(nginx, nginxExit, 'SIGQUIT'));

    const fetchVia = (url: string, options: Parameters<Stack['fetch']>[1] = {}): Promise<HttpResult> =>
      new Promise((resolvePromise, reject) => {
        const u = new URL(url);
        const body = options.body === undefined ? undefined : Buffer.from(options.body);
        const req = request(
          {
            host: '127.0.0.1',
            port: Number(u.port),
            servername: u.hostname, // SNI, and the name the certificate is checked against
            ca,
            agent: options.agent ?? false,
            method: options.method ?? 'GET',
            path: u.pathname + u.search,
            headers: { host: u.host, ...(body ? { 'content-length': String(body.length) } : {}), ...options.headers },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolvePromise({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    await until(
      'nginx to answer',
      15_000,
      async () => {
        if (nginx.exitCode !== null) throw new Exited(`nginx exited with ${nginx.exitCode}`);
        const res = await fetchVia(`${apiOrigin}/healthz`);
        return res.status === 200 ? true : undefined;
      },
      logs,
    );

    const stack: Stack = {
      dir,
      httpsPort,
      httpPort,
      ca,
      caPath,
      apiOrigin,
      s3Origin,
      origin: (project) => `https://${originLabel(project)}.${ARTIFACT_DOMAIN}:${httpsPort}`,
      gateways,
      provider,
      gatewayEnv,
      fetch: fetchVia,
      async token(project, build) {
        const r = await runCli(['token', '--project', project, '--build', build], gatewayEnv);
        if (r.code !== 0) throw new Error(`token: ${r.stderr}`);
        return r.stdout.trim();
      },
      async upload(project, build, files) {
        const token = await stack.token(project, build);
        for (const [path, content] of Object.entries(files)) {
          const encoded = path.split('/').map(encodeURIComponent).join('/');
          const url = `${apiOrigin}/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${encoded}`;
          const res = await fetchVia(url, {
            method: 'PUT',
            body: content,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          });
          if (res.status !== 201 && res.status !== 200) throw new Error(`upload of ${path}: ${res.status} ${res.body.toString()}`);
        }
      },
      accessLog: () => readFile(join(nginxDir, 'logs', 'artifact-gateway.access.log'), 'utf8'),
      logs,
      stop: () => cleanup.run(),
    };
    return stack;
  } catch (err) {
    await cleanup.run().catch(() => undefined);
    throw err;
  }
}
