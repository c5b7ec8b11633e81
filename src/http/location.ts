/**
 * Every `Location` the gateway sends goes through here. Node refuses a header value with a
 * character above U+00FF (ERR_INVALID_CHAR, a 500) and sends Latin-1 ones as raw bytes, which
 * clients read as mojibake; a sign-in `next` such as `/1/报告/` holds both. encodeurl turns any
 * string into a valid URL: characters outside the URL set are percent-encoded as UTF-8, escapes
 * that are already there are kept, and a lone surrogate becomes U+FFFD instead of throwing.
 */
import encodeUrl from 'encodeurl';
import type { Context } from 'koa';

export function setLocation(ctx: Context, url: string, status: 301 | 302 | 303 | 307 | 308 = 302): void {
  ctx.status = status;
  ctx.set('Location', encodeUrl(url));
}
