/** Starts a floor server (floor-server.ts) on a free port; stop() ends it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../test/support/ports';
import { call } from './http';

export interface Floor {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startFloor(kind: 'node' | 'koa' | 'proxy', args: string[] = []): Promise<Floor> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'floor-server.js'), kind, String(port), ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; ; i++) {
    // any answer will do: the proxy answers a request without x-upstream by resetting it
    const up = await call({ port, host: 'floor', path: '/', headers: { 'x-upstream': 'http://127.0.0.1:9/' } }).then(
      () => true,
      (err: NodeJS.ErrnoException) => err.code !== 'ECONNREFUSED',
    );
    if (up) break;
    if (i > 100) {
      await stop();
      throw new Error(`the ${kind} floor server did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, pid: child.pid!, stop };
}
