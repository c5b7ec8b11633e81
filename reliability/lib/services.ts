/**
 * What the campaign runs against, each on loopback on free ports in the campaign's temp dir:
 * a throwaway Ceph radosgw (scripts/ceph-rgw.sh) that cases can stop, restart, freeze and thaw,
 * and the built gateway (`node --max-semi-space-size=16 dist/cli/index.js serve`) on either
 * storage driver. Every start returns a stop(); main.ts calls them all, also after a failure.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/support/ports';
import { request } from './http';

/** The repository root, from dist/reliability/reliability/lib. */
export const ROOT = resolve(__dirname, '../../../..');
const CEPH_SCRIPT = join(ROOT, 'scripts/ceph-rgw.sh');
let CLI = join(ROOT, 'dist/cli/index.js');

/**
 * Copies the gateway's build (dist/, without the bench's and the campaign's own output) aside and
 * runs every gateway from the copy: a rebuild in the same checkout during a long run cannot swap
 * the code under it. The copy lives under dist/ so that node_modules still resolves.
 */
export function snapshotBuild(): { dir: string; remove(): void } {
  const dist = join(ROOT, 'dist');
  const dir = join(dist, 'reliability', `gateway-${process.pid}`);
  for (const entry of readdirSync(dist)) {
    if (entry === 'bench' || entry === 'reliability' || entry === 'test') continue;
    cpSync(join(dist, entry), join(dir, entry), { recursive: true });
  }
  if (!existsSync(join(dir, 'cli/index.js'))) throw new Error('dist/cli/index.js is missing: run npm run build');
  CLI = join(dir, 'cli/index.js');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolvePromise(stdout + stderr);
    });
  });
}

export interface Radosgw {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** SIGTERM radosgw only (mon, osd and the data stay); resolves once it has exited. */
  stopRgw(): Promise<void>;
  /** Starts radosgw again; resolves once it answers HTTP. */
  startRgw(): Promise<void>;
  /** The radosgw process id (for SIGSTOP/SIGCONT). */
  rgwPid(): number;
  /** Stops the whole cluster and deletes its directory. */
  stop(): Promise<void>;
}

/** A fresh single-node Ceph cluster with radosgw (memstore: the data path is RAM). */
export async function startRadosgw(dir: string): Promise<Radosgw> {
  const port = await freePort();
  const monPort = await freePort(2);
  const cephDir = join(dir, 'ceph');
  const env = {
    ...process.env,
    CEPH_DIR: cephDir,
    RGW_PORT: String(port),
    MON_PORT: String(monPort),
    MEMSTORE_BYTES: String(6 * 1024 ** 3),
    S3_ACCESS_KEY: 'reliability-access-key',
    S3_SECRET_KEY: 'reliability-secret-key',
  };
  const rgwPid = () => Number(readFileSync(join(cephDir, 'run/client.rgw.a.pid'), 'utf8').trim());
  const stop = async () => {
    // a frozen radosgw ignores SIGTERM until it is thawed
    try {
      process.kill(rgwPid(), 'SIGCONT');
    } catch {
      // not running
    }
    await run('bash', [CEPH_SCRIPT, 'stop'], env, 120_000);
  };
  try {
    await run('bash', [CEPH_SCRIPT, 'start'], env, 240_000);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId: env.S3_ACCESS_KEY,
    secretAccessKey: env.S3_SECRET_KEY,
    stopRgw: async () => void (await run('bash', [CEPH_SCRIPT, 'rgw-stop'], env, 60_000)),
    startRgw: async () => void (await run('bash', [CEPH_SCRIPT, 'rgw-start'], env, 120_000)),
    rgwPid,
    stop,
  };
}

export type Driver = 'fs' | 's3';

export interface GatewayOptions {
  driver: Driver;
  dir: string;
  secret: string;
  /** s3: the endpoint the gateway talks to (radosgw, or the fault proxy in front of it). */
  s3?: Radosgw;
  s3Endpoint?: string;
  /** Buckets of their own per case, so each case verifies only what it wrote. */
  bucketPrefix: string;
  publicProjects: string[];
  name: string;
}

export interface Gateway {
  pid: number;
  port: number;
  apiHost: string;
  driver: Driver;
  log: string;
  /** True once the process has exited (by itself or by stop()). */
  exited(): boolean;
  stop(): Promise<void>;
}

/** The built gateway, as `npm start` runs it, stdout and stderr to a log file in `dir`. */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    STORAGE_DRIVER: o.driver,
    SIGNING_SECRET: o.secret,
    PUBLIC_PROJECTS: o.publicProjects.join(','),
    LOG_LEVEL: 'warn',
    // direct cache uploads in small parts (S3's minimum), so a commit is quick to provoke
    CACHE_PART_BYTES: String(5 * 1024 * 1024),
  };
  if (o.driver === 's3') {
    const s3 = o.s3!;
    Object.assign(env, {
      S3_ENDPOINT: o.s3Endpoint ?? s3.endpoint,
      // presigned URLs (direct part uploads, redirects) go to radosgw itself, never the fault proxy
      S3_PUBLIC_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      ARTIFACTS_BUCKET: `${o.bucketPrefix}-artifacts`,
      CACHE_BUCKET: `${o.bucketPrefix}-cache`,
      S3_CREATE_BUCKETS: 'true',
    });
  } else {
    env.DATA_DIR = join(o.dir, `data-${o.bucketPrefix}`);
  }
  const log = join(o.dir, `gateway-${o.name}-${port}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, ['--max-semi-space-size=16', CLI, 'serve'], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let dead = false;
  const exited = new Promise<void>((r) => child.once('exit', () => ((dead = true), r())));
  const apiHost = `localhost:${port}`;
  await waitUntil(async () => {
    if (dead) throw new Error(`the gateway exited while starting: ${readFileSync(log, 'utf8').slice(-1500)}`);
    return (await request({ port, host: apiHost, path: '/healthz', timeoutMs: 2000 })).status === 200;
  }, 'the gateway to answer /healthz');
  return {
    pid: child.pid!,
    port,
    apiHost,
    driver: o.driver,
    log,
    exited: () => dead,
    async stop() {
      if (!dead) child.kill('SIGTERM');
      const timer = setTimeout(() => !dead && child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function waitUntil(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET' && code !== 'ETIMEDOUT') throw err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function hasCommand(cmd: string): boolean {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(join(d, cmd)));
}
