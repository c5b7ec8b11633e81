/**
 * The node:http server every gateway instance runs on, with the protocol edges node leaves to
 * the application:
 * - headers must arrive within `headersTimeoutMs` (slowloris). Node checks that deadline only on
 *   its connection sweep, every 30 s by default, so a slow client lasted up to ~50 s instead of
 *   20; the sweep runs every second here.
 * - `Expect: 100-continue` is answered by the app once it has accepted the body (http/body.ts),
 *   not by node up front, so an oversize or unauthorised upload is refused before it is sent.
 * - `CONNECT` goes to node's 'connect' event, which closes the socket without a word when nobody
 *   listens; here it goes through the app like any request, and gets a 405.
 * There is no overall request timeout (large transfers take as long as they take); a socket that
 * is idle for `idleTimeoutMs` mid-request is cut, and keep-alive sockets outlive nginx's upstream
 * keepalive_timeout (60 s) so nginx never reuses a socket that is closing.
 */
import { createServer, ServerResponse, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { markAwaitingContinue } from './body';

export interface HttpServerOptions {
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

export function createHttpServer(handler: RequestListener, options: HttpServerOptions = {}): Server {
  const server = createServer({
    requestTimeout: 0,
    headersTimeout: options.headersTimeoutMs ?? 20_000,
    connectionsCheckingInterval: 1_000,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
  });
  server.timeout = options.idleTimeoutMs ?? 120_000;
  server.on('request', handler);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    markAwaitingContinue(res);
    handler(req, res);
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex) => answerOnSocket(handler, req, socket));
  return server;
}

/** Runs the app for a request node has detached from its HTTP parser, then closes the socket. */
function answerOnSocket(handler: RequestListener, req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  res.once('finish', () => {
    res.detachSocket(socket as never);
    socket.end();
    // as node's server does after every response: the access log waits for 'close'
    process.nextTick(() => res.emit('close'));
  });
  handler(req, res);
}
