/**
 * HTTP with the request line exactly as written: clients such as fetch and superagent normalise
 * `..`, `%2e%2e` and friends away before sending, which would hide exactly the attacks the
 * path tests are for.
 */
import { once } from 'node:events';
import { request, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createHttpServer, type HttpServerOptions } from '../../src/http/node-server';

export interface Listening {
  port: number;
  /** Requests the server has received so far. */
  readonly received: number;
  /**
   * Resolves once the server has received at least `count` requests and has finished handling
   * every one: a request whose client hung up is done when its handler has cleaned up, not when
   * its socket closed. Waiting on this instead of a sleep proves what a cut request left behind.
   */
  handled(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Serves `handler` on the server the gateway runs on (its timeouts, Expect and CONNECT handling). */
export async function listen(handler: RequestListener, options: HttpServerOptions = {}): Promise<Listening> {
  let received = 0;
  const inFlight = new Set<Promise<void>>();
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const wake of waiters) wake();
    waiters.clear();
  };
  const server: Server = createHttpServer((req, res) => {
    received++;
    // a Koa app's listener returns the promise of its middleware chain
    const done: Promise<void> = Promise.all([Promise.resolve(handler(req, res) as unknown), once(res, 'close')]).then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(done);
    changed();
    void done.then(() => {
      inFlight.delete(done);
      changed();
    });
  }, options);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get received() {
      return received;
    },
    handled: async (count, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (received < count || inFlight.size > 0) {
        const left = deadline - Date.now();
        // on a hang, say which of the two it waits for, where jest would only say the test timed out
        if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${count} requests handled: ${received} received, ${inFlight.size} still in flight`);
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.add(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: () => any;
}

export function raw(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer | string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString(), json: () => JSON.parse(body.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes on a socket and returns what came back before the server closed or `ms` passed. */
export function rawSocket(port: number, data: string | Buffer, options: { ms?: number; destroyAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    // a timer left pending would keep the test worker alive after its last test
    const timers: NodeJS.Timeout[] = [];
    const finish = (err?: Error) => {
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      if (err) reject(err);
      else resolve(out);
    };
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(data, () => {
        // let the server see the bytes, then hang up mid-body
        if (options.destroyAfterWrite) timers.push(setTimeout(() => finish(), 100));
      });
    });
    socket.on('data', (c) => (out += c.toString()));
    socket.on('end', () => finish());
    socket.on('error', (e) => finish(options.destroyAfterWrite ? undefined : e));
    timers.push(setTimeout(() => finish(), options.ms ?? 2000));
  });
}
