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
 * - a request node's parser refuses (request line and headers over `maxHeaderSize`, malformed
 *   syntax, headers too slow) gets a JSON error that says what was wrong, in the shape the app's
 *   own errors have, instead of node's bare status line.
 * There is no overall request timeout (large transfers take as long as they take); a socket that
 * is idle for `idleTimeoutMs` mid-request is cut, and keep-alive sockets outlive nginx's upstream
 * keepalive_timeout (60 s) so nginx never reuses a socket that is closing.
 */
import { createServer, maxHeaderSize, ServerResponse, STATUS_CODES, type IncomingMessage, type RequestListener, type Server } from 'node:http';
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
  server.on('clientError', answerClientError);
  return server;
}

/** What node's parser refused, as a status, an error code and a message a person can act on. */
function describeClientError(err: NodeJS.ErrnoException): [status: number, code: string, message: string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [
        431,
        'request_header_fields_too_large',
        `the request line and headers are over ${maxHeaderSize} bytes; shorten the URL (fewer or shorter cache keys) or the headers`,
      ];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'payload_too_large', 'chunk extensions are too long'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'request_timeout', 'the request headers did not arrive in time'];
    default:
      return [400, 'bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`];
  }
}

/**
 * Answers a request node could not parse, then closes the connection (the client may still be
 * sending). As node's own handler does, nothing is written where a response has already begun.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: ServerResponse | null }): void {
  // on a keep-alive connection an earlier response may be in flight; only one that has not begun
  // can be replaced by the error
  if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, message] = describeClientError(err);
  // no request id: the request never reached the app, so no log line carries one
  const body = JSON.stringify({ error: { code, message, status } });
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n';
  socket.end(head + body, () => socket.destroy());
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
