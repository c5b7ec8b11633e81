/**
 * What the build tools' protocol suites share: a real gateway (`artifact-gateway serve`) on the fs
 * driver or on radosgw, job tokens as a CI mints them (a trusted default-branch job, an untrusted
 * pull request, another project's job), the metrics it reports, a clean checkout per run, and the
 * real client run on it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { raw, rawSocket, type RawResponse } from '../support/raw-http';
import { runCli, startGateway, type Gateway } from '../support/cli';
import type { Config } from '../../src/config';
import { makeConfig } from '../support/make-config';
import { emptyAndDeleteBucket, s3Env, type DriverName } from '../support/drivers';

export const PROJECT = 'acme';
const SECRET = 'protocol-suite-signing-secret-0123456789abcdef';
export const MAX_BYTES = 1024 * 1024;
/** A gateway and four token mints, each a node process: slow on a loaded CI machine. */
export const START_MS = 180_000;

export interface ProtocolGateway extends Gateway {
  tokens: { trusted: string; untrusted: string; otherProject: string; readOnly: string };
  /** A request on the API host, exactly as written (no path normalisation). */
  api(options: Parameters<typeof raw>[1]): Promise<RawResponse>;
  /** The sum of a counter's samples whose labels include `labels`. */
  metric(name: string, labels: Record<string, string>): Promise<number>;
}

/** `env` overrides the gateway's settings (e.g. a larger CACHE_MAX_BYTES for multi-block uploads). */
export async function startProtocolGateway(driver: DriverName, env: Record<string, string> = {}): Promise<ProtocolGateway> {
  const id = randomBytes(4).toString('hex');
  const storageEnv: Record<string, string> =
    driver === 's3' ? { ...s3Env(), ARTIFACTS_BUCKET: `agw-proto-a-${id}`, CACHE_BUCKET: `agw-proto-c-${id}`, S3_CREATE_BUCKETS: 'true' } : {};
  const gw = await startGateway({ SIGNING_SECRET: SECRET, CACHE_MAX_BYTES: String(MAX_BYTES), ...storageEnv, ...env });
  const mint = async (args: string[]) => {
    const r = await runCli(['token', ...args], gw.env);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const tokens = {
    trusted: await mint(['--project', PROJECT, '--build', '1']),
    untrusted: await mint(['--project', PROJECT, '--build', '2', '--branch', 'pull/7', '--base-branch', 'main', '--untrusted']),
    otherProject: await mint(['--project', 'other', '--build', '3']),
    readOnly: await mint(['--project', PROJECT, '--build', '4', '--scope', 'cache:read']),
  };
  return {
    ...gw,
    tokens,
    api: (options) => raw(gw.port, { ...options, headers: { host: `localhost:${gw.port}`, ...options.headers } }),
    async metric(name, labels) {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => m[2].includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      await gw.stop();
      if (driver === 's3') {
        const { createS3Client } = await import('../../src/storage/s3/client');
        const client = createS3Client(makeConfig(storageEnv).storage as Extract<Config['storage'], { driver: 's3' }>);
        try {
          await emptyAndDeleteBucket(client, storageEnv.ARTIFACTS_BUCKET);
          await emptyAndDeleteBucket(client, storageEnv.CACHE_BUCKET);
        } finally {
          client.destroy();
        }
      }
    },
  };
}

/** A fresh copy of a fixture tree: every run starts from a clean checkout. */
export async function checkout(fixture: string, into: string): Promise<string> {
  const dir = await mkdtemp(join(into, 'checkout-'));
  await cp(fixture, dir, { recursive: true });
  return dir;
}

export async function scratch(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'agw-proto-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * An upload that declares `declared` bytes, sends fewer and hangs up: what a killed job leaves.
 * Resolves once the socket is gone.
 */
export async function truncatedPut(port: number, path: string, headers: Record<string, string>, declared: number): Promise<void> {
  const head = [`PUT ${path} HTTP/1.1`, 'Host: localhost', `Content-Length: ${declared}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  await rawSocket(port, `${head.join('\r\n')}\r\n\r\n${'x'.repeat(Math.floor(declared / 2))}`, { destroyAfterWrite: true });
}

/**
 * A suite's gateway on `driver` and a scratch directory, made before its first test and removed
 * after its last. Read `gw` and `work` inside tests (they are set by then).
 */
export function useProtocolGateway(driver: DriverName): { readonly gw: ProtocolGateway; readonly work: string } {
  let gw: ProtocolGateway | undefined;
  let work: { dir: string; remove: () => Promise<void> } | undefined;
  beforeAll(async () => {
    gw = await startProtocolGateway(driver);
    work = await scratch();
  }, START_MS);
  afterAll(async () => {
    await gw?.stop();
    await work?.remove();
  });
  return {
    get gw() {
      if (!gw) throw new Error('the gateway is not started yet');
      return gw;
    },
    get work() {
      if (!work) throw new Error('the scratch directory is not made yet');
      return work.dir;
    },
  };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
export const basic = (token: string, user = 'ci'): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`,
});

/**
 * Runs a real client in a clean checkout of `fixture` (made under `work`) with exactly `env`
 * plus PATH and HOME (in `work`): nothing leaks in from the test runner. Resolves with its
 * stdout and stderr together and the checkout; a failing run rejects with its output.
 */
export async function runOnCheckout(
  fixture: string,
  work: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ out: string; dir: string }> {
  const dir = await checkout(fixture, work);
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: work, ...env },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { out: stdout + stderr, dir };
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(err as Error).message}\n${stdout}${stderr}`, { cause: err });
  }
}

/**
 * The runs every client suite makes, each on a clean checkout with an empty local cache: a pull
 * request's, whose upload lands in its own scope; a trusted job's, which must not see it (it
 * misses and uploads); and a second trusted one, which must hit what the first uploaded.
 */
export async function untrustedThenTwice<R>(gw: ProtocolGateway, run: (token: string) => Promise<R>): Promise<{ pr: R; first: R; second: R }> {
  const pr = await run(gw.tokens.untrusted);
  const first = await run(gw.tokens.trusted);
  const second = await run(gw.tokens.trusted);
  return { pr, first, second };
}
