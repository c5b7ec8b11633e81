/**
 * Range and conditional requests, one rule for everything the gateway serves itself (inline
 * files on artifact origins and the fs driver's blob URLs), so both answer as S3 does.
 */
import type { Context } from 'koa';
import parseRange from 'range-parser';
import { RangeNotSatisfiableError } from '../errors';
import type { ByteRange } from '../storage/storage';

export interface Representation {
  size: number;
  /** Strong validator, quoted (`"…"`). */
  etag: string;
  lastModified: Date;
}

/**
 * The one byte range to serve, or undefined for the whole body. Throws RangeNotSatisfiableError
 * (416, with `Content-Range: bytes *\/size`) when no requested range overlaps the file.
 * - `If-Range` (RFC 9110 §13.1.5): the range applies only while the client's copy is current,
 *   named by the strong ETag or by the exact Last-Modified date; otherwise the whole body, so a
 *   client never splices bytes of two versions together.
 * - A malformed header, another unit, or several ranges: the whole body, a valid answer to all.
 */
export function requestedRange(ctx: Context, rep: Representation): ByteRange | undefined {
  const header = ctx.get('range');
  if (!header) return undefined;
  const ifRange = ctx.get('if-range');
  if (ifRange && !validatorMatches(ifRange, rep)) return undefined;
  const ranges = parseRange(rep.size, header, { combine: true });
  if (ranges === -1) {
    ctx.set('Content-Range', `bytes */${rep.size}`); // also where the answer is not the JSON error (blob URLs)
    throw new RangeNotSatisfiableError(`range ${header} is outside the ${rep.size}-byte file`, rep.size);
  }
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return undefined;
  return { start: ranges[0].start, end: ranges[0].end };
}

function validatorMatches(ifRange: string, rep: Representation): boolean {
  if (ifRange.startsWith('"')) return ifRange === rep.etag; // strong comparison; W/ never matches
  if (ifRange.startsWith('W/')) return false;
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && date === Math.floor(rep.lastModified.getTime() / 1000) * 1000; // HTTP dates are whole seconds
}

/** Content-Range and Content-Length for a whole body or one range of it. */
export function sendLength(ctx: Context, size: number, range?: { start: number; end?: number }): void {
  if (range) {
    const end = range.end ?? size - 1;
    ctx.set('Content-Range', `bytes ${range.start}-${end}/${size}`);
    ctx.length = end - range.start + 1;
  } else {
    ctx.length = size;
  }
}

/**
 * If-None-Match against the current ETag (RFC 9110 §13.1.2: `*`, or any listed tag, compared
 * weakly), for what the gateway serves without Koa's ctx.fresh: that treats a request carrying
 * `Cache-Control: no-cache` as never fresh, and fetch() adds exactly that to every conditional
 * request it makes with `cache: 'no-cache'`.
 */
export function ifNoneMatch(header: string, etag: string): boolean {
  if (header === '') return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
