/**
 * What the bench measures, each started on loopback on free ports in a temp dir and stopped by
 * the returned stop() (main.ts calls every stop, also after a failure or a signal):
 * a throwaway Ceph radosgw (scripts/ceph-rgw.sh), nginx as the baseline, and the built gateway
 * (`node dist/cli/index.js serve`) on the s3 driver.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/support/ports';
import { call } from './http';

export const ROOT = resolve(__dirname, '../../../..');
const CEPH_SCRIPT = join(ROOT, 'scripts/ceph-rgw.sh');
const CLI = join(ROOT, 'dist/cli/index.js');
const GiB = 1024 ** 3;

export interface Service {
  stop(): Promise<void>;
}

export interface S3Server extends Service {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolvePromise(stdout + stderr);
    });
  });
}

/** A fresh single-node Ceph cluster with radosgw; memstore, so the data path is RAM, not disk. */
export async function startRadosgw(dir: string): Promise<S3Server> {
  const rgwPort = await freePort();
  const monPort = await freePort(2);
  const env = {
    ...process.env,
    CEPH_DIR: join(dir, 'ceph'),
    RGW_PORT: String(rgwPort),
    MON_PORT: String(monPort),
    // 1 GiB out + 1 GiB in + the throughput objects, with room for radosgw's lazy gc
    MEMSTORE_BYTES: String(8 * GiB),
    S3_ACCESS_KEY: 'bench-access-key',
    S3_SECRET_KEY: 'bench-secret-key',
  };
  const stop = async () => {
    await run('bash', [CEPH_SCRIPT, 'stop'], env, 120_000);
  };
  try {
    await run('bash', [CEPH_SCRIPT, 'start'], env, 240_000);
  } catch (err) {
    await stop().catch(() => undefined); // a half-started cluster is stopped too
    throw err;
  }
  return { endpoint: `http://127.0.0.1:${rgwPort}`, accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY, stop };
}

export interface Nginx extends Service {
  /** The master process; its one worker is its child. */
  pid: number;
  port: number;
  version: string;
}

/** nginx answering every request with `302 Location: <location>`, one worker, no access log. */
export async function startNginx(dir: string, location: string, workers = 1): Promise<Nginx> {
  if (/["\\$]/.test(location)) throw new Error('the Location for nginx must not contain quotes, backslashes or $');
  return startNginxWith(join(dir, 'nginx'), `location / { return 302 "${location}"; }`, workers, 302);
}

/**
 * nginx serving the files under `root` (sendfile on, as in production; Debian's type map), one worker, no access log.
 * `gzip`: also compresses what the gateway compresses (text, JSON, JS, SVG of 1 KiB or more) at
 * level 6, as the gateway's gzip does.
 */
export async function startNginxStatic(dir: string, root: string, o: { gzip?: boolean } = {}): Promise<Nginx> {
  if (/[";\\$\s]/.test(root)) throw new Error('the root for nginx must not contain quotes, semicolons, backslashes, $ or spaces');
  const gzip = o.gzip
    ? 'gzip on; gzip_vary on; gzip_min_length 1024; gzip_comp_level 6; ' +
      'gzip_types text/css text/plain text/javascript application/javascript application/json image/svg+xml application/xml; '
    : '';
  return startNginxWith(
    join(dir, o.gzip ? 'nginx-static-gzip-conf' : 'nginx-static-conf'),
    `sendfile on; include /etc/nginx/mime.types; ${gzip}location / { root ${root}; }`,
    1,
  );
}

/** nginx with one `server` block; `readyStatus`: what `GET /` answers once it is up (any answer when absent). */
async function startNginxWith(home: string, serverBody: string, workers: number, readyStatus?: number): Promise<Nginx> {
  mkdirSync(join(home, 'tmp'), { recursive: true });
  const port = await freePort();
  const conf = join(home, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes ${workers};
pid ${home}/nginx.pid;
error_log ${home}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${home}/tmp/body;
  proxy_temp_path ${home}/tmp/proxy;
  fastcgi_temp_path ${home}/tmp/fastcgi;
  uwsgi_temp_path ${home}/tmp/uwsgi;
  scgi_temp_path ${home}/tmp/scgi;
  # like node's server: never close a keep-alive connection after N requests
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:${port};
    ${serverBody}
  }
}
`,
  );
  // /usr/sbin is not on every user's PATH on Debian
  const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const version = (await run(nginx, ['-v'], process.env, 10_000)).trim().replace(/^nginx version: /, '');
  const child = spawn(nginx, ['-p', home, '-c', conf, '-e', join(home, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitUntil(async () => {
    const { status } = await call({ port, host: `127.0.0.1:${port}`, path: '/' });
    return readyStatus === undefined || status === readyStatus;
  }, 'nginx to answer');
  return {
    pid: child.pid!,
    port,
    version,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Gateway extends Service {
  pid: number;
  port: number;
  /** The API host's Host header. */
  apiHost: string;
  env: Record<string, string>;
}

export interface GatewayOptions {
  s3: S3Server;
  dir: string;
  secret: string;
  publicProjects: string[];
  logLevel: 'warn' | 'info';
  /** Write a V8 CPU profile (.cpuprofile) into `dir` when it stops. */
  cpuProfile?: boolean;
  port?: number;
}

/** The built gateway on the s3 driver, stdout and stderr to a log file in `dir`. */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const port = o.port ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    STORAGE_DRIVER: 's3',
    S3_ENDPOINT: o.s3.endpoint,
    S3_ACCESS_KEY_ID: o.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: o.s3.secretAccessKey,
    S3_REGION: 'us-east-1',
    ARTIFACTS_BUCKET: 'agw-bench-artifacts',
    CACHE_BUCKET: 'agw-bench-cache',
    S3_CREATE_BUCKETS: 'true',
    SIGNING_SECRET: o.secret,
    PUBLIC_PROJECTS: o.publicProjects.join(','),
    LOG_LEVEL: o.logLevel,
    // the direct baselines reuse one presigned URL for a whole run
    PRESIGN_TTL: '900',
  };
  const log = join(o.dir, `gateway-${port}-${o.logLevel}.log`);
  const fd = openSync(log, 'a');
  const args = o.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${o.dir}`] : [];
  // as `npm start` and the artifact-gateway command run it (docs/deployment.md, "Node flags")
  const child = spawn(process.execPath, ['--max-semi-space-size=16', ...args, CLI, 'serve'], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const apiHost = `localhost:${port}`;
  let dead = false;
  void exited.then(() => (dead = true));
  await waitUntil(async () => {
    if (dead) throw new Error(`the gateway exited while starting; see ${log}`);
    return (await call({ port, host: apiHost, path: '/healthz' })).status === 200;
  }, 'the gateway to answer /healthz');
  return {
    pid: child.pid!,
    port,
    apiHost,
    env,
    async stop() {
      if (!dead) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitUntil(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
