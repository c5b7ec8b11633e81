/**
 * The real parts the gateway cases of the reliability campaign run against: the built
 * `artifact-gateway` command (`serve` as a child process on a free port, `token`, `gc`), a store
 * for each driver (fs in a temp dir; s3 as two fresh buckets on a radosgw), and that radosgw
 * (the one given by the campaign or jest's global setup, else a throwaway one started here).
 * Works from the TypeScript sources (jest) and from a compiled copy alike: paths are found from
 * the repository root, not from this file's location.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { emptyAndDeleteBucket } from '../../test/support/drivers';
import { freePort } from '../../test/support/ports';
import type { CaseContext } from './types';
import { request } from './gw-http';

export type DriverName = 'fs' | 's3';

/** The repository root: the nearest directory above this file whose package.json is ours. */
export const ROOT = (() => {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'artifact-gateway') return dir;
    if (dirname(dir) === dir) throw new Error(`no artifact-gateway package.json above ${__dirname}`);
  }
})();
export const CLI = join(ROOT, 'dist/cli/index.js');
/** How `npm start` and the bench run the gateway (docs/deployment.md, "Node flags"). */
export const NODE_ARGS = ['--max-semi-space-size=16'];

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
}

export interface S3Handle {
  s3: S3Endpoint;
  /** Stops the radosgw when it was started here; a no-op for a given one. */
  stop(): Promise<void>;
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${String(stderr).slice(-2000)}`));
      else resolve(stdout + stderr);
    });
  });
}

/**
 * The S3 server to use: the context's, else the environment's (jest's global setup exports
 * S3_ENDPOINT and credentials), else a throwaway radosgw in `ctx.dir` (memstore), stopped by stop().
 */
export async function resolveS3(ctx: CaseContext): Promise<S3Handle> {
  if (ctx.s3) return { s3: ctx.s3, stop: async () => undefined };
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION } = process.env;
  if (S3_ENDPOINT && S3_ACCESS_KEY_ID && S3_SECRET_ACCESS_KEY) {
    return {
      s3: { endpoint: S3_ENDPOINT, accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY, region: S3_REGION },
      stop: async () => undefined,
    };
  }
  const rgwPort = await freePort();
  const monPort = await freePort(2);
  const cephDir = join(ctx.dir, `ceph-${randomBytes(3).toString('hex')}`);
  const env = {
    ...process.env,
    CEPH_DIR: cephDir,
    RGW_PORT: String(rgwPort),
    MON_PORT: String(monPort),
    S3_ACCESS_KEY: 'reliability-access-key',
    S3_SECRET_KEY: 'reliability-secret-key',
  };
  const script = join(ROOT, 'scripts/ceph-rgw.sh');
  const stop = async () => {
    await exec('bash', [script, 'stop'], env, 120_000);
  };
  ctx.log(`starting a radosgw for the gateway cases (port ${rgwPort})`);
  try {
    await exec('bash', [script, 'start'], env, 240_000);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return {
    s3: { endpoint: `http://127.0.0.1:${rgwPort}`, accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY, region: 'us-east-1' },
    stop,
  };
}

export function s3Client(s3: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** Where one run of a case keeps its data, as the gateway's environment names it. */
export interface Store {
  driver: DriverName;
  /** STORAGE_DRIVER and the driver's variables. */
  env: Record<string, string>;
  /** fs: DATA_DIR. */
  dataDir?: string;
  /** s3: the server and the two bucket names. */
  s3?: S3Endpoint;
  buckets?: { artifacts: string; cache: string };
  /** Removes the data (fs dir; s3 objects, pending multipart uploads and buckets). */
  cleanup(): Promise<void>;
}

export async function makeStore(driver: DriverName, dir: string, s3?: S3Endpoint): Promise<Store> {
  if (driver === 'fs') {
    mkdirSync(dir, { recursive: true });
    const dataDir = await mkdtemp(join(dir, 'fs-store-'));
    return {
      driver,
      dataDir,
      env: { STORAGE_DRIVER: 'fs', DATA_DIR: dataDir },
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  if (!s3) throw new Error('the s3 driver needs an S3 endpoint');
  const id = randomBytes(4).toString('hex');
  const buckets = { artifacts: `agw-rel-artifacts-${id}`, cache: `agw-rel-cache-${id}` };
  return {
    driver,
    s3,
    buckets,
    env: {
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_REGION: s3.region ?? 'us-east-1',
      ARTIFACTS_BUCKET: buckets.artifacts,
      CACHE_BUCKET: buckets.cache,
      S3_CREATE_BUCKETS: 'true',
    },
    cleanup: async () => {
      const client = s3Client(s3);
      try {
        for (const bucket of Object.values(buckets)) await emptyAndDeleteBucket(client, bucket);
      } finally {
        client.destroy();
      }
    },
  };
}

export interface GatewayProcess {
  pid: number;
  port: number;
  /** The API host's Host header, `localhost:<port>`. */
  apiHost: string;
  env: Record<string, string>;
  logFile: string;
  /** Whether the process has exited (by itself or killed). */
  exited(): boolean;
  /** Sends a signal and waits for the process to be gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (a graceful stop) unless already gone. */
  stop(): Promise<void>;
  /** The end of its log, for failure messages. */
  logTail(bytes?: number): string;
}

/** The environment a case's gateway runs with: the store's, a fixed secret, quiet logs. */
export function gatewayEnv(store: Store, secret: string, extra: Record<string, string> = {}): Record<string, string> {
  return { HOST: '127.0.0.1', SIGNING_SECRET: secret, LOG_LEVEL: 'warn', ...store.env, ...extra };
}

/**
 * `node --max-semi-space-size=16 dist/cli/index.js serve` with exactly `env` (plus PATH and PORT),
 * output appended to `logFile`; resolves once /healthz answers 200.
 */
export async function startGatewayProcess(o: { env: Record<string, string>; logFile: string; port?: number }): Promise<GatewayProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run npm run build first`);
  const port = o.port ?? (await freePort());
  const env = { PATH: process.env.PATH ?? '', ...o.env, PORT: String(port) };
  mkdirSync(dirname(o.logFile), { recursive: true });
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...NODE_ARGS, CLI, 'serve'], { env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let dead = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      dead = true;
      resolve();
    }),
  );
  const apiHost = `localhost:${port}`;
  const logTail = (bytes = 3000) => {
    try {
      return readFileSync(o.logFile, 'utf8').slice(-bytes);
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (dead) throw new Error(`the gateway exited while starting:\n${logTail()}`);
    const ok = await request({ port, host: apiHost, method: 'GET', path: '/healthz', timeoutMs: 2000 }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the gateway did not answer /healthz within 30 s:\n${logTail()}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid!,
    port,
    apiHost,
    env,
    logFile: o.logFile,
    exited: () => dead,
    async kill(signal) {
      if (!dead) child.kill(signal);
      await gone;
    },
    async stop() {
      if (!dead) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
    logTail,
  };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built command to its end with exactly `env` (plus PATH). */
export function runCommand(args: string[], env: Record<string, string>, nodeArgs: string[] = [], timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A job token from `artifact-gateway token`, for the gateway that runs with `env`. */
export async function mintToken(env: Record<string, string>, project: string, build: string, extra: string[] = []): Promise<string> {
  const r = await runCommand(['token', '--project', project, '--build', build, ...extra], env);
  const jwt = r.stdout.trim();
  if (r.code !== 0 || jwt.split('.').length !== 3) throw new Error(`artifact-gateway token failed (exit ${r.code}): ${r.stderr.slice(-500)}`);
  return jwt;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface GcRun extends CommandResult {
  /** The summary `gc` logged last (`{report: {...}}`), when it got that far. */
  report?: Record<string, number>;
}

/**
 * Runs `artifact-gateway gc` as if `shiftMs` had passed: gc spares what is younger than its
 * grace periods (orphans a day, reservations CACHE_UPLOAD_TTL and a day), so leftovers of a
 * crash a minute ago are only collected by a gc that sees a later clock. The command takes no
 * clock option, so a preload module wraps the built runGc (the command calls it through its
 * module's exports) to pass `now: () => Date.now() + shiftMs`. Only gc's own age comparisons see
 * the shift: storage requests are signed with the real clock. The preload writes a marker line
 * on stderr, so a gc that ran without the shift is told from one that found nothing.
 */
export async function runGcCommand(env: Record<string, string>, dir: string, shiftMs: number): Promise<GcRun & { shifted: boolean }> {
  const preload = join(dir, 'gc-clock-shift.js');
  const gcModule = join(ROOT, 'dist/retention/gc.js');
  writeFileSync(
    preload,
    `'use strict';
const shift = Number(process.env.AGW_GC_CLOCK_SHIFT_MS);
const gc = require(${JSON.stringify(gcModule)});
if (typeof gc.runGc !== 'function' || !Number.isFinite(shift)) throw new Error('gc clock shift: runGc not found');
const runGc = gc.runGc;
gc.runGc = (deps) => {
  process.stderr.write('gc clock shifted by ' + shift + ' ms\\n');
  return runGc({ ...deps, now: () => Date.now() + shift });
};
`,
  );
  const r = await runCommand(['gc'], { ...env, AGW_GC_CLOCK_SHIFT_MS: String(shiftMs), LOG_LEVEL: 'info' }, ['-r', preload]);
  let report: Record<string, number> | undefined;
  for (const line of r.stdout.split('\n')) {
    try {
      const parsed = JSON.parse(line) as { report?: Record<string, number> };
      if (parsed.report) report = parsed.report;
    } catch {
      // not a log line
    }
  }
  return { ...r, report, shifted: r.stderr.includes('gc clock shifted by') };
}
