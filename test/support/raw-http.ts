/**
 * HTTP with the request line exactly as written: clients such as fetch and superagent normalise
 * `..`, `%2e%2e` and friends away before sending, which would hide exactly the attacks the
 * path tests are for.
 */
import { request, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createHttpServer, type HttpServerOptions } from '../../src/http/node-server';

export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Serves `handler` on the server the gateway runs on (its timeouts, Expect and CONNECT handling). */
export async function listen(handler: RequestListener, options: HttpServerOptions = {}): Promise<Listening> {
  const server: Server = createHttpServer(handler, options);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
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
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(data, () => {
        if (options.destroyAfterWrite) {
          // let the server see the bytes, then hang up mid-body
          setTimeout(() => {
            socket.destroy();
            resolve(out);
          }, 100);
        }
      });
    });
    let out = '';
    socket.on('data', (c) => (out += c.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', (e) => (options.destroyAfterWrite ? resolve(out) : reject(e)));
    setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, options.ms ?? 2000);
  });
}
