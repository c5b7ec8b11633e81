/**
 * A request handler driven without sockets: node's own IncomingMessage and ServerResponse on a
 * stream that drops what is written, `concurrency` requests at a time. This measures the
 * JavaScript of a request (the app, Koa, node's response code) without node's parser, the
 * socket and the kernel: the part of a figure-1 request that the gateway's own code decides.
 */
import { IncomingMessage, ServerResponse, type RequestListener } from 'node:http';
import { Duplex } from 'node:stream';

/** Takes every write and drops it, as a socket whose peer reads at once. */
class Discard extends Duplex {
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    callback();
  }
  override _writev(_chunks: unknown[], callback: () => void): void {
    callback();
  }
  override _read(): void {}
}

export interface FakeRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** One request through `handler`; resolves with the status once the response is finished and closed. */
function serve(handler: RequestListener, r: FakeRequest): Promise<number> {
  return new Promise((resolve) => {
    const socket = new Discard();
    const req = new IncomingMessage(socket as never);
    req.method = r.method;
    req.url = r.path;
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
    req.headers = { ...r.headers };
    req.rawHeaders = Object.entries(r.headers).flat();
    req.complete = true;
    req.push(null);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = true;
    res.assignSocket(socket as never);
    // as node's server does: 'close' on the next tick after 'finish' (the access log waits for it)
    res.once('finish', () => {
      res.detachSocket(socket as never);
      process.nextTick(() => {
        res.emit('close');
        resolve(res.statusCode);
      });
    });
    handler(req, res);
  });
}

/** CPU time (user + system) of this process per request, µs, over `requests` requests. */
export async function cpuPerRequest(handler: RequestListener, r: FakeRequest, o: { requests: number; concurrency: number }): Promise<number> {
  const status = await serve(handler, r);
  if (status >= 400) throw new Error(`in-process ${r.method} ${r.path} answered ${status}`);
  const start = process.cpuUsage();
  for (let done = 0; done < o.requests; done += o.concurrency) {
    await Promise.all(Array.from({ length: o.concurrency }, () => serve(handler, r)));
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / o.requests;
}
