import { createServer } from 'node:net';

/** Resolves true when `port` can be bound on 127.0.0.1 right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A random free port, and the `consecutive - 1` ports after it free too (ceph's mon needs 2). */
export async function freePort(consecutive = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let i = 0; i < consecutive && ok; i++) ok = await portIsFree(port + i);
    if (ok) return port;
  }
  throw new Error('no free port found on 127.0.0.1');
}
