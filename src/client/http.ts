/**
 * The client's one HTTP layer: every request the artifacts and caches clients make goes through
 * `send`, with one retry loop, one timeout and one way to describe what went wrong.
 *
 * How it fails:
 * - An answer other than 429 or 5xx is an answer, not a failure: `send` resolves with it (a 404 or
 *   a 409 is for the caller to read). Sending the same request again cannot change a 4xx.
 * - Network errors (refused, reset, DNS), a socket idle for REQUEST_IDLE_MS in either direction,
 *   a response cut off, a download of the wrong length, 429 and 5xx are retried up to `retries`
 *   times, with exponential backoff and jitter (so that many clients failing together do not
 *   retry together), waiting at least what `Retry-After` asks (seconds or an HTTP date, capped
 *   at MAX_RETRY_AFTER_MS). Then `send` rejects with an HttpFailure whose message is the last
 *   reason and how many attempts were made.
 * - A request body that cannot be read (the file is gone, unreadable, or changed length while it
 *   was sent) rejects at once with an HttpFailure marked `local`: another attempt would read the
 *   same file.
 * - A request that would send the token to an origin other than the gateway's throws a plain
 *   Error before anything is sent: that is a bug, not a condition to retry.
 * Progress counters (`onSent`, `saveTo.onBytes`) are rolled back by what an attempt moved before
 * it is retried, since the next attempt starts over.
 *
 * node:http(s) rather than fetch: fetch sends a stream body chunked, and the gateway checks the
 * Content-Length before it reads a byte. Rather than undici either, weighed for its RetryHandler
 * (which honours Retry-After): that handler retries only a body it can replay, and ours are files
 * streamed from disk, re-opened for every attempt with their progress rolled back, so the retry
 * loop would be ours anyway; undici 8 needs Node 22 (we support 20); and node:http already streams
 * a body of declared length with backpressure, so memory stays flat whatever the file size.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface HttpOptions {
  /** The gateway's API URL: the only origin the token is ever sent to. */
  baseUrl: URL;
  /** The job token, sent as a bearer token to the gateway (never to presigned URLs). */
  token: string;
  /** Retries after the first attempt (network errors, 429, 5xx). */
  retries: number;
  /** Connections per origin at most (default: as many as requests in flight). */
  maxSockets?: number;
  /** Told before each wait: what is retried (the caller's words), why, and for how long. */
  onRetry?(what: string, reason: string, delayMs: number): void;
}

/** A request body, opened afresh for every attempt. */
export interface Body {
  /** What the body is, for the message when it changes while it is sent (a file's path). */
  name: string;
  /** Its bytes and their length, which is declared before the first byte is sent. Rejections are not retried. */
  open(): Promise<{ length: number; stream?: Readable }>;
  /** Its Content-Type, when it has one. */
  contentType?: string;
}

export interface HttpRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  url: URL;
  /** Sends the job token: only ever to the gateway's own origin. */
  auth: boolean;
  /** A JSON body (replayable). */
  json?: unknown;
  body?: Body;
  /** Bytes of `body` handed to the socket (negative when an attempt is rolled back). */
  onSent?(delta: number): void;
  /** Hash what is sent: the response then has its sha256 (when the whole body went out). */
  sha256?: boolean;
  /** A 200 answer's body goes to this file (truncated first) instead of memory; retried unless it is `length` bytes. */
  saveTo?: { path: string; length?: number; onBytes?(delta: number): void };
}

export interface HttpResponse {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON (undefined when it is not JSON, or went to `saveTo`). */
  json: unknown;
  /** Bytes written to `saveTo`. */
  saved: number;
  /** The sha256 of the body sent, when asked for and all of it was sent. */
  sentSha256?: string;
}

export class HttpFailure extends Error {
  constructor(
    message: string,
    /** The request's own body could not be read: nothing the network did. */
    readonly local = false,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

export interface Http {
  /** Sends `req`, retrying as the contract above says; `what` names it in retry messages. */
  send(what: string, req: HttpRequest, retries?: number): Promise<HttpResponse>;
  /** Closes the kept-alive connections. */
  close(): void;
}

const REQUEST_IDLE_MS = 120_000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
const MAX_RETRY_AFTER_MS = 2 * MAX_DELAY_MS;
const RESPONSE_MAX_BYTES = 1024 * 1024;

type Attempt = { response: HttpResponse } | { retry: string; retryAfterMs?: number } | { local: string };

export function createHttp(options: HttpOptions): Http {
  const agentOptions = { keepAlive: true, ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}) };
  const agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };

  async function attempt(req: HttpRequest): Promise<Attempt> {
    let opened: { length: number; stream?: Readable } | undefined;
    if (req.body) {
      try {
        opened = await req.body.open();
      } catch (err) {
        return { local: (err as Error).message };
      }
    }
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let sent = 0;
      let received = 0;
      let localError: Error | undefined;
      const hash: Hash | undefined = req.sha256 ? createHash('sha256') : undefined;
      const settle = (a: Attempt) => {
        if (settled) return;
        settled = true;
        if (!('response' in a)) {
          req.onSent?.(-sent);
          req.saveTo?.onBytes?.(-received);
        }
        resolve(a);
      };
      const headers: Record<string, string> = {};
      if (req.auth) headers.authorization = `Bearer ${options.token}`;
      const json = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
      if (json) headers['content-type'] = 'application/json';
      else if (req.body?.contentType) headers['content-type'] = req.body.contentType;
      const length = opened?.length ?? json?.length ?? 0;
      if (req.method !== 'GET') headers['content-length'] = String(length);
      const https = req.url.protocol === 'https:';
      const r = (https ? httpsRequest : httpRequest)(req.url, { method: req.method, agent: https ? agents.https : agents.http, headers });
      r.setTimeout(REQUEST_IDLE_MS, () => r.destroy(new Error(`no progress for ${REQUEST_IDLE_MS / 1000} s`)));
      // once the body failed on our side, whatever the request then reports (node says "socket hang
      // up", not our error) is a consequence of it: not a network error, and not worth a retry
      r.on('error', (err) => settle(localError ? { local: localError.message } : { retry: describeNetworkError(err) }));
      r.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const to = req.saveTo;
        const body = to && status === 200 ? saveBody(res, to.path, (d) => ((received += d), to.onBytes?.(d))) : readJson(res);
        body.then(
          ({ json, saved }) => {
            // an early answer (a refused token, a conflict) while the body is still going out: stop sending
            if (!r.writableFinished) r.destroy();
            if (status === 429 || status >= 500) {
              settle({ retry: describeStatus(status, json, res.statusMessage), retryAfterMs: retryAfter(res.headers['retry-after']) });
            } else if (to && status === 200 && to.length !== undefined && saved !== to.length) {
              // a body of the wrong length that ended without an error: retried like a network error
              settle({ retry: `got ${saved} bytes, expected ${to.length}` });
            } else {
              const sentSha256 = hash && sent === length ? hash.digest('hex') : undefined;
              settle({ response: { status, statusMessage: res.statusMessage ?? '', headers: res.headers, json, saved, sentSha256 } });
            }
          },
          (err: Error) => settle({ retry: describeNetworkError(err) }),
        );
      });
      const stream = opened?.stream;
      if (!stream || length === 0) {
        stream?.destroy();
        r.end(json);
        return;
      }
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sent += chunk.length;
          hash?.update(chunk);
          req.onSent?.(chunk.length);
          cb(null, chunk);
        },
        flush(cb) {
          // the length was promised in the header; a file that shrank cannot keep that promise
          cb(sent === length ? null : (localError = new Error(`${req.body!.name} changed while it was being uploaded`)));
        },
      });
      stream.on('error', (err) => (localError = err));
      pipeline(stream, meter, r).catch(() => {
        if (localError) settle({ local: localError.message }); // a network error is reported through r's 'error'
      });
    });
  }

  return {
    async send(what, req, retries = options.retries) {
      if (req.auth && req.url.origin !== options.baseUrl.origin) throw new Error(`refusing to send the token to ${req.url.origin}`);
      for (let n = 0; ; n++) {
        const a = await attempt(req);
        if ('response' in a) return a.response;
        if ('local' in a) throw new HttpFailure(a.local, true);
        if (n >= retries) throw new HttpFailure(`${a.retry}${n > 0 ? ` (gave up after ${n + 1} attempts)` : ''}`);
        const backoff = Math.min(FIRST_DELAY_MS * 2 ** n, MAX_DELAY_MS) * (0.5 + Math.random() / 2);
        const delay = Math.max(backoff, Math.min(a.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
        options.onRetry?.(what, a.retry, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** Retry-After in milliseconds: a number of seconds, or an HTTP date. */
export function retryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

/** An answer as a person reads it: the gateway's `{error: {code, message}}` when it sent one. */
export function describeStatus(status: number, json: unknown, statusMessage = ''): string {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') return `${status} ${typeof error.code === 'string' ? `${error.code}: ` : ''}${error.message}`;
  return `${status} ${statusMessage}`.trim() + (status >= 200 && status < 300 ? ' (not the expected answer)' : '');
}

/** A network error with its code (ECONNREFUSED…) in front, once. */
export function describeNetworkError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

/** A response body as JSON, at most RESPONSE_MAX_BYTES of it kept (error messages, entries). */
function readJson(res: IncomingMessage): Promise<{ json: unknown; saved: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    res.on('data', (c: Buffer) => {
      length += c.length;
      if (length <= RESPONSE_MAX_BYTES) chunks.push(c);
    });
    res.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        json = undefined;
      }
      resolve({ json, saved: 0 });
    });
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the response was cut off')));
  });
}

async function saveBody(res: IncomingMessage, path: string, onBytes: (delta: number) => void): Promise<{ json: unknown; saved: number }> {
  let saved = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      saved += chunk.length;
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  await pipeline(res, count, createWriteStream(path, { flags: 'w', mode: 0o600 }));
  return { json: undefined, saved };
}
