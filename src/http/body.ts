/**
 * Request bodies, checked before a byte is read (bazel-remote's rule): uploads must declare their
 * length, and small JSON bodies are read with a hard limit.
 */
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { BadRequestError, LengthRequiredError, PayloadTooLargeError } from '../errors';

// Responses whose client sent `Expect: 100-continue` and waits for our go-ahead before it sends
// the body (http/node-server.ts marks them). Node would otherwise answer 100 at once, and a
// client would send megabytes of an upload that is then refused with 413 or 401.
const awaitingContinue = new WeakSet<ServerResponse>();

export function markAwaitingContinue(res: ServerResponse): void {
  awaitingContinue.add(res);
}

/**
 * Every check on a request has passed and its body is read next: send `100 Continue` if the
 * client waits for it. A final answer without it makes node close the connection after it, so
 * a client that sends the body anyway cannot desynchronise the next request.
 */
export function acceptBody(ctx: Context): void {
  if (awaitingContinue.delete(ctx.res)) ctx.res.writeContinue();
}

/**
 * The declared Content-Length of an upload, refused when absent, malformed or over `max`. Call it
 * last, after authorisation: it accepts the body (acceptBody), which the caller then reads.
 */
export function declaredLength(ctx: Context, max: number, what: string): number {
  const header = ctx.get('content-length');
  if (header === '') throw new LengthRequiredError(`${what} uploads must declare Content-Length (chunked uploads are not accepted)`);
  const length = Number(header);
  if (!/^\d+$/.test(header) || !Number.isSafeInteger(length)) {
    throw new BadRequestError(`Content-Length ${JSON.stringify(header)} is not a byte count`);
  }
  if (length > max) {
    ctx.set('Connection', 'close'); // do not read a body we refuse
    throw new PayloadTooLargeError(`${length} bytes is over the ${max}-byte ${what} limit`);
  }
  acceptBody(ctx);
  return length;
}

/** A JSON object body of at most `limit` bytes. */
export async function readJson(ctx: Context, limit = 1024 * 1024): Promise<Record<string, unknown>> {
  if (!ctx.is('application/json')) throw new BadRequestError('the body must be JSON (Content-Type: application/json)');
  acceptBody(ctx);
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new PayloadTooLargeError(`the JSON body is over ${limit} bytes`);
    if (type === 'request.size.invalid') throw new BadRequestError('the body is shorter or longer than its Content-Length');
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError('the body must be a JSON object');
  return value as Record<string, unknown>;
}
