/**
 * Every `Location` the gateway sends goes through here. Node refuses a header value with a
 * character above U+00FF (ERR_INVALID_CHAR, a 500) and sends Latin-1 ones as raw bytes, which
 * clients read as mojibake; a sign-in `next` such as `/1/报告/` holds both. encodeurl turns any
 * string into a valid URL: characters outside the URL set are percent-encoded as UTF-8, escapes
 * that are already there are kept, and a lone surrogate becomes U+FFFD instead of throwing.
 */
import encodeUrl from 'encodeurl';
import type { Context } from 'koa';
import { STATUS_CODES } from 'node:http';

declare const locationBrand: unique symbol;
/** A URL already made safe for the Location header by toLocation(). */
export type Location = string & { readonly [locationBrand]: true };

type RedirectStatus = 301 | 302 | 303 | 307 | 308;

export function toLocation(url: string): Location {
  return encodeUrl(url) as Location;
}

export function setLocation(ctx: Context, url: string, status: RedirectStatus = 302): void {
  sendLocation(ctx, toLocation(url), status);
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * Answers with the redirect at once: status, Location and a short text body (the status's name,
 * as Koa would send) written to the response here, with `ctx.respond = false` so Koa's response
 * step does nothing more. Koa's own handling of a bodiless 302 (a content-type look-up, the length
 * header, the write a microtask later) was the largest single cost left on the artifact origins'
 * redirect path (bench figure 1). Every header set before goes out with it; nothing can be set
 * after. `location` must come from toLocation(): a presigned URL sent again and again is encoded
 * once (two regular-expression passes over ~600 characters).
 */
export function sendLocation(ctx: Context, location: Location, status: RedirectStatus = 302): void {
  ctx.status = status; // what the access log and the metrics read
  ctx.respond = false;
  // as Koa's response step does: nothing is written for a client that has gone (a redirect that
  // waited for a presigned URL)
  if (!ctx.writable) return;
  const res = ctx.res;
  const body = STATUS_CODES[status]!;
  // lower-case names: node stores each header under its lower-case name, and one given so costs
  // no new string per request
  res.setHeader('location', location);
  res.setHeader('content-type', TEXT);
  res.setHeader('content-length', body.length);
  // a HEAD gets the same headers and no body
  res.end(ctx.method === 'HEAD' ? undefined : body);
}
