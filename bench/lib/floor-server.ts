/**
 * Floors: the least any Node server does for the same job, measured in the same run as the
 * gateway, so a figure shows how much of its gap is the gateway's own work.
 *  - node, koa: the same 302 with exactly the headers the gateway sent, from a bare node:http
 *    server and from a one-middleware Koa app (figure 1);
 *  - proxy: streams a request to the URL in its x-upstream header and the answer back, body in
 *    and out, nothing else (figures 2 and 5: the bytes through a Node process and nothing more).
 *
 *   node floor-server.js node|koa <port> <headers.json>
 *   node floor-server.js proxy <port>
 */
import { Agent, createServer, request } from 'node:http';
import { readFileSync } from 'node:fs';
import Koa from 'koa';

/** The one-middleware Koa app that answers every request with the same 302 and headers. */
export function koaFloor(fixed: Array<[string, string]>): Koa {
  const app = new Koa();
  app.use(async (ctx) => {
    for (const [name, value] of fixed) ctx.set(name, value);
    ctx.status = 302;
  });
  return app;
}

const [kind, portArg, headersFile] = process.argv.slice(2);
const port = Number(portArg);
const headers = (): Array<[string, string]> => JSON.parse(readFileSync(headersFile, 'utf8')) as Array<[string, string]>;

if (require.main !== module) {
  // imported for koaFloor (the in-process row of figure 1): nothing to start
} else if (kind === 'node') {
  const fixed = headers();
  createServer((_req, res) => {
    res.statusCode = 302;
    for (const [name, value] of fixed) res.setHeader(name, value);
    res.end('Found');
  }).listen(port, '127.0.0.1');
} else if (kind === 'koa') {
  koaFloor(headers()).listen(port, '127.0.0.1');
} else if (kind === 'proxy') {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  createServer((req, res) => {
    const target = new URL(String(req.headers['x-upstream']));
    const length = req.headers['content-length'];
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: target.pathname + target.search,
        agent,
        headers: length ? { 'content-length': length } : {},
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-length': answer.headers['content-length'] ?? '0',
          'content-type': answer.headers['content-type'] ?? 'application/octet-stream',
        });
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }).listen(port, '127.0.0.1');
} else {
  throw new Error('usage: floor-server node|koa <port> <headers.json> | proxy <port>');
}
