/**
 * GetObject for the s3 driver's read(): a presigned URL fetched with node:http, not the SDK's
 * GetObjectCommand. Every inline artifact and every restored cache is one of these, and the SDK's
 * middleware stack costs more per request than signing and sending it here (bench figure 2: the
 * 1 MiB case went from 0.40x to 0.5x of a direct presigned GET, the bare-proxy floor being 0.6x).
 * The URL comes from the driver's SigV4Presigner on the internal endpoint, so it is the SDK's own
 * URL byte for byte, and credentials, endpoint and addressing style follow the client's config.
 *
 * What the SDK did that this keeps:
 *  - keep-alive agents with 256 sockets per host, a connect timeout and a socket idle timeout;
 *  - and adds a deadline for the response to start (`responseMs`): a frozen S3 server (a stopped
 *    process whose kernel still accepts connections) otherwise held every inline read for the
 *    idle timeout, three times over. It is not retried: what did not answer in that time will not
 *    in the next, and the viewer gets a 503 with Retry-After instead of a minute-long wait;
 *  - retries of what fails before the response starts (a refused or reset connection, 5xx),
 *    3 attempts with the SDK's full-jitter backoff; nothing is retried once the body flows;
 *  - errors shaped like the SDK's (name, Code, $metadata.httpStatusCode), for s3Error().
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

export interface GetTimeouts {
  connectMs: number;
  socketMs: number;
  /** From sending the GET to its response's status line and headers. */
  responseMs: number;
}

const RESPONSE_TIMEOUT = 'S3_RESPONSE_TIMEOUT';

const MAX_ATTEMPTS = 3;
const BASE_DELAY_MS = 100;
const ERROR_BODY_MAX = 64 * 1024;
const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'TimeoutError']);

/** Keep-alive agents for one driver instance; destroy() closes their idle sockets. */
export class GetAgents {
  readonly 'http:' = new http.Agent({ keepAlive: true, maxSockets: 256 });
  readonly 'https:' = new https.Agent({ keepAlive: true, maxSockets: 256 });
  destroy(): void {
    this['http:'].destroy();
    this['https:'].destroy();
  }
}

export interface GetOptions {
  range?: string;
  signal?: AbortSignal;
  timeouts: GetTimeouts;
  agents: GetAgents;
}

/** An error in the SDK's shape, so s3Error() maps it as it maps the SDK's own. */
export class S3HttpError extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode: number };
  constructor(code: string, status: number) {
    super(`${code} (HTTP ${status})`);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/**
 * GETs `url` and resolves with the response once its status is 200 or 206 (the caller owns the
 * body) or 416 (body already drained). Anything else rejects: an S3HttpError carrying the S3
 * error code from the XML body, or the network error.
 */
export async function s3Get(url: string, options: GetOptions): Promise<IncomingMessage> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptGet(url, options);
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !retryable(err) || options.signal?.aborted) throw err;
      // the SDK's standard mode: full jitter on an exponential base
      await sleep(Math.random() * BASE_DELAY_MS * 2 ** attempt, options.signal);
    }
  }
}

function attemptGet(url: string, { range, signal, timeouts, agents }: GetOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      return reject(new Error(`unsupported S3 endpoint protocol ${target.protocol}`));
    }
    const transport = target.protocol === 'https:' ? https : http;
    const req = transport.get(target, { agent: agents[target.protocol], signal, headers: range ? { range } : {} });
    req.setTimeout(timeouts.socketMs, () => req.destroy(timeoutError('socket idle')));
    const answer = setTimeout(() => req.destroy(Object.assign(timeoutError('response'), { code: RESPONSE_TIMEOUT })), timeouts.responseMs);
    req.once('response', () => clearTimeout(answer));
    req.once('close', () => clearTimeout(answer));
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => req.destroy(timeoutError('connect')), timeouts.connectMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    // on, not once: an error after the response (socket timeout mid-body) must not go unhandled;
    // the body stream reports it to its reader
    req.on('error', reject);
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status === 200 || status === 206) return resolve(res);
      readErrorBody(res).then((body) => {
        if (status === 416) return resolve(res);
        reject(new S3HttpError(/<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1] ?? `HTTP${status}`, status));
      }, reject);
    });
  });
}

/** The first 64 KiB of an error answer (S3 errors are small XML documents); the rest is dropped. */
async function readErrorBody(res: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) {
    body += (chunk as Buffer).toString('utf8');
    if (body.length >= ERROR_BODY_MAX) {
      res.destroy(); // not an S3 error document: stop reading (the socket is not reused)
      break;
    }
  }
  return body;
}

function retryable(err: unknown): boolean {
  if (err instanceof S3HttpError) return RETRYABLE_STATUS.has(err.$metadata.httpStatusCode);
  const e = err as { code?: string; name?: string };
  if (e.code === RESPONSE_TIMEOUT) return false;
  return RETRYABLE_CODES.has(e.code ?? '') || RETRYABLE_CODES.has(e.name ?? '');
}

function timeoutError(what: string): Error {
  const err = new Error(`S3 ${what} timeout`);
  err.name = 'TimeoutError';
  return err;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
