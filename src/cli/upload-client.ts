/**
 * One artifact PUT, streamed from disk with a declared Content-Length (the gateway refuses
 * uploads without one), retried with exponential backoff on network errors, 429 and 5xx only: a
 * 4xx other than 429 is an answer, and sending the same request again cannot change it.
 *
 * node:http rather than fetch: fetch with a stream body sends it chunked, and the gateway checks
 * the length before it reads a byte (bazel-remote's rule).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodePath } from '../artifacts/paths';
import type { LocalFile } from './upload-files';

export interface UploadedItem {
  path: string;
  size: number;
  sha256: string;
  /** Browse URL on the artifact origin. */
  url: string;
}

export type PutOutcome = { kind: 'created' | 'unchanged'; item: UploadedItem };

/** A failed upload; `fatal` when no other file can succeed either (the token is refused). */
export class UploadFailure extends Error {
  constructor(
    message: string,
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'UploadFailure';
  }
}

export interface UploaderOptions {
  baseUrl: URL;
  token: string;
  project: string;
  build: string;
  concurrency: number;
  retries: number;
  /** Bytes handed to the socket (negative when an attempt is rolled back for a retry). */
  onBytes(delta: number): void;
  onRetry(file: LocalFile, reason: string, delayMs: number): void;
}

const REQUEST_IDLE_MS = 120_000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
const RESPONSE_MAX_BYTES = 1024 * 1024;

type Attempt = { retry: true; reason: string; retryAfterMs?: number } | { retry: false; outcome?: PutOutcome; failure?: UploadFailure };

export function createUploader(options: UploaderOptions) {
  const https = options.baseUrl.protocol === 'https:';
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: options.concurrency })
    : new HttpAgent({ keepAlive: true, maxSockets: options.concurrency });
  const base = options.baseUrl.href.replace(/\/+$/, '');
  const buildUrl = `${base}/api/v1/projects/${encodeURIComponent(options.project)}/builds/${encodeURIComponent(options.build)}/artifacts/`;

  async function attempt(file: LocalFile): Promise<Attempt> {
    let handle;
    try {
      // O_NOFOLLOW: a file swapped for a link since it was listed is not followed either
      handle = await open(file.source, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      return { retry: false, failure: new UploadFailure(`cannot read ${file.source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`) };
    }
    const size = (await handle.stat()).size;
    const hash = createHash('sha256');
    let sent = 0;
    let localError: Error | undefined;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        hash.update(chunk);
        options.onBytes(chunk.length);
        cb(null, chunk);
      },
      flush(cb) {
        // the length was promised in the header; a file that shrank cannot keep that promise
        cb(sent === size ? null : (localError = new Error(`${file.source} changed while it was being uploaded`)));
      },
    });

    const result = await new Promise<Attempt>((resolve) => {
      let settled = false;
      const settle = (a: Attempt) => {
        if (settled) return;
        settled = true;
        resolve(a);
      };
      const send = https ? httpsRequest : httpRequest;
      const req = send(`${buildUrl}${encodePath(file.path)}`, {
        method: 'PUT',
        agent,
        headers: { authorization: `Bearer ${options.token}`, 'content-length': String(size) },
      });
      req.setTimeout(REQUEST_IDLE_MS, () => req.destroy(new Error(`no progress for ${REQUEST_IDLE_MS / 1000} s`)));
      req.on('error', (err) => {
        if (err === localError) settle({ retry: false, failure: new UploadFailure(err.message) });
        else settle({ retry: true, reason: describeNetworkError(err) });
      });
      req.on('response', (res) => {
        readBody(res).then(
          (body) => {
            // an early answer (a refused token) while the body is still going out: stop sending
            if (!req.writableFinished) req.destroy();
            settle(interpret(res, body, () => (sent === size ? hash.digest('hex') : undefined)));
          },
          (err: Error) => settle({ retry: true, reason: describeNetworkError(err) }),
        );
      });
      if (size === 0) req.end();
      else {
        const source = handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
        source.on('error', (err) => (localError = err));
        pipeline(source, counter, req).catch(() => undefined); // reported through req's 'error'
      }
    });
    await handle.close().catch(() => undefined);
    if (result.retry) options.onBytes(-sent);
    return result;
  }

  return {
    async put(file: LocalFile): Promise<PutOutcome> {
      for (let n = 0; ; n++) {
        const a = await attempt(file);
        if (!a.retry) {
          if (a.failure) throw a.failure;
          return a.outcome!;
        }
        if (n >= options.retries) {
          throw new UploadFailure(`${a.reason} (gave up after ${n + 1} attempt${n === 0 ? '' : 's'})`);
        }
        // exponential with jitter, so that many clients failing together do not retry together
        const backoff = Math.min(FIRST_DELAY_MS * 2 ** n, MAX_DELAY_MS) * (0.5 + Math.random() / 2);
        const delay = Math.max(backoff, Math.min(a.retryAfterMs ?? 0, MAX_DELAY_MS * 2));
        options.onRetry(file, a.reason, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    },
    close(): void {
      agent.destroy();
    },
  };
}

/** `digest` is the sha256 of what was sent, or undefined when not all of the file went out. */
function interpret(res: IncomingMessage, body: Buffer, digest: () => string | undefined): Attempt {
  const status = res.statusCode ?? 0;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  if ((status === 200 || status === 201) && isItem(json)) {
    // the server hashed what it stored: a difference means the bytes were damaged on the way
    const sha256 = digest();
    if (json.sha256 !== sha256) {
      return { retry: false, failure: new UploadFailure(`the gateway stored sha256 ${json.sha256}, but what was sent has ${sha256 ?? 'not been sent in full'}`) };
    }
    return { retry: false, outcome: { kind: status === 201 ? 'created' : 'unchanged', item: json } };
  }
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const detail =
    error && typeof error.message === 'string'
      ? `${status} ${typeof error.code === 'string' ? `${error.code}: ` : ''}${error.message}`
      : `${status} ${res.statusMessage ?? ''}`.trim() + (status >= 200 && status < 300 ? ' (not the expected JSON answer)' : '');
  if (status === 429 || status >= 500) return { retry: true, reason: detail, retryAfterMs: retryAfter(res.headers['retry-after']) };
  return { retry: false, failure: new UploadFailure(detail, status === 401 || status === 403) };
}

function isItem(v: unknown): v is UploadedItem {
  const o = v as Partial<UploadedItem> | undefined;
  return typeof o === 'object' && o !== null && typeof o.path === 'string' && typeof o.url === 'string' && typeof o.sha256 === 'string';
}

/** Retry-After in milliseconds, when it is a number of seconds. */
export function retryAfter(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) * 1000 : undefined;
}

/** A response body, at most RESPONSE_MAX_BYTES of it kept (error messages, JSON entries). */
export function readBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    res.on('data', (c: Buffer) => {
      length += c.length;
      if (length <= RESPONSE_MAX_BYTES) chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the response was cut off')));
  });
}

function describeNetworkError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
