/**
 * The built `artifact-gateway` command as a user runs it (jest's global setup builds dist/), and a
 * real gateway started with it on a free port with the fs driver in a temp DATA_DIR.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports';

export const CLI = resolve(__dirname, '../../dist/cli/index.js');

export interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts the command with exactly `env` (plus PATH): nothing leaks in from the test runner. */
export function spawnCli(args: string[], env: Record<string, string>, cwd?: string): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  // 'close', not 'exit': every byte of output has arrived by then
  const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command to its end. */
export async function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Finished> {
  const run = spawnCli(args, env, cwd);
  run.child.stdin.end();
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

export async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Gateway {
  port: number;
  /** API origin, http://localhost:<port>. */
  url: string;
  /** The environment the server runs with: give it to `token` and `ticket` too. */
  env: Record<string, string>;
  dir: string;
  logs: () => string;
  stop(): Promise<void>;
}

/**
 * `artifact-gateway serve` on a free port, fs driver in a temp DATA_DIR. A port found free can be
 * taken by another process before the gateway binds it (other suites start servers too): then it
 * tries again on another port, up to three times.
 */
export async function startGateway(extraEnv: Record<string, string> = {}): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'agw-cli-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: join(dir, 'data'), ...extraEnv };
    const gw = spawnCli(['serve'], env, dir);
    try {
      await waitFor(() => gw.stdout().includes('artifact-gateway serving') || gw.stderr().includes('EADDRINUSE'), 'the gateway to start');
      if (!gw.stdout().includes('artifact-gateway serving')) throw new Error(`port ${port} was taken before the gateway could bind it`);
    } catch (err) {
      gw.child.kill('SIGTERM');
      await gw.exit;
      if (attempt < 3 && gw.stderr().includes('EADDRINUSE') && !extraEnv.PORT) continue;
      throw new Error(`${(err as Error).message}\n${gw.stdout()}\n${gw.stderr()}`, { cause: err });
    }
    // a PORT given by the caller is the one the gateway bound
    return gatewayHandle(Number(env.PORT), env, dir, gw);
  }
}

function gatewayHandle(port: number, env: Record<string, string>, dir: string, gw: ReturnType<typeof spawnCli>): Gateway {
  return {
    port,
    url: `http://localhost:${port}`,
    env,
    dir,
    logs: () => gw.stdout() + gw.stderr(),
    async stop() {
      gw.child.kill('SIGTERM');
      await gw.exit;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The payload of a JWT, unverified: for asserting on what a command minted. */
export function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}
