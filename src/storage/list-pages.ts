/**
 * Both drivers' paging of list(): how many items a page holds, and the page token.
 *
 * A page token is the last key (or prefix) of the previous page, base64url: stateless, and
 * checkable. S3's own continuation tokens are opaque, and radosgw accepts any string as one, so
 * a forged token could not be told from a real one; this one must decode to a name inside the
 * prefix that is listed, or the listing refuses it.
 */
import { BadRequestError } from '../errors';

/** S3's largest page, and both drivers' default. */
export const MAX_LIST_LIMIT = 1000;

/** ListOptions.limit: a positive whole number, clamped to 1000 as S3 does. */
export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new BadRequestError(`limit must be a positive whole number, got ${limit}`);
  return Math.min(limit, MAX_LIST_LIMIT);
}

/** The token of a page whose last name is `last`. */
export function pageToken(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url');
}

/** The name a page token stands for: the next page starts after it. BadRequestError for a token `prefix` never issued. */
export function pageStart(token: string, prefix: string): string {
  const after = Buffer.from(token, 'base64url').toString('utf8');
  // the round trip refuses anything but canonical base64url of valid UTF-8
  if (after === '' || pageToken(after) !== token || !after.startsWith(prefix)) {
    throw new BadRequestError('the page token is not one this listing gave out', 'invalid_page_token');
  }
  return after;
}

/** listPrefixes() lists one level: below '' or a prefix ending in '/'. */
export function checkLevel(prefix: string): void {
  if (prefix !== '' && !prefix.endsWith('/')) {
    throw new BadRequestError(`listing the level below ${JSON.stringify(prefix)} needs a prefix ending in '/'`);
  }
}
