/**
 * Every `Location` the gateway sends goes through here. Node refuses a header value with a
 * character above U+00FF (ERR_INVALID_CHAR, a 500) and sends Latin-1 ones as raw bytes, which
 * clients read as mojibake; a sign-in `next` such as `/1/报告/` holds both. encodeurl turns any
 * string into a valid URL: characters outside the URL set are percent-encoded as UTF-8, escapes
 * that are already there are kept, and a lone surrogate becomes U+FFFD instead of throwing.
 */
import encodeUrl from 'encodeurl';
import type { Context } from 'koa';

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

/**
 * For a Location sent again and again (a file's presigned URL, reused for a while): encoding a
 * presigned URL is two regular-expression passes over ~600 characters, measurable per redirect.
 */
export function sendLocation(ctx: Context, location: Location, status: RedirectStatus = 302): void {
  ctx.status = status;
  ctx.set('Location', location);
}
