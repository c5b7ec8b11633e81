/**
 * Content coding of what the gateway serves on artifact origins: report HTML, scripts, styles,
 * JSON and SVG go out brotli- or gzip-compressed when the browser accepts it, compressed on the
 * fly as they stream from storage (docs/performance.md, "Compression", has the measurements that
 * chose on the fly over compressing once at upload, and the qualities below).
 *
 * The rules, one place for all of them:
 * - Only compressible types (mime-db's flag, via `compressible`), only bodies of at least
 *   MIN_COMPRESS_BYTES: below that the frame costs more than it saves.
 * - The coding comes from Accept-Encoding with its q-values (`negotiator`), br before gzip on a
 *   tie; no header, `identity`, or nothing acceptable but refused identity: the identity body
 *   (RFC 9110 §12.5.3 lets a server send it rather than fail).
 * - Every answer whose body could differ by coding says `Vary: Accept-Encoding`, 304s and
 *   identity answers included, so no cache hands a gzip body to a client that cannot read it.
 * - Each coding has its own ETag: `W/"<sha256>-br"`, `W/"<sha256>-gzip"` (weak: the bytes depend
 *   on the zlib build, which a Node upgrade may change; nginx weakens ETags the same way).
 * - A request with Range gets the identity representation, never a slice of a compressed stream
 *   that was never stored: its offsets mean the file's bytes, as S3 and the presigned path serve
 *   them. Compressed answers carry no Accept-Ranges and no Content-Length (streamed, chunked).
 */
import type { Context } from 'koa';
import compressible from 'compressible';
import Negotiator from 'negotiator';
import { Readable, type Transform, pipeline } from 'node:stream';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';

export type Coding = 'br' | 'gzip' | 'identity';

/** Bodies smaller than this go out as they are. */
export const MIN_COMPRESS_BYTES = 1024;
/** Brotli quality for responses (11, node's default, costs ~40x the CPU for ~8% fewer bytes). */
export const BROTLI_QUALITY = 5;
/** gzip level for clients without brotli (zlib's default). */
export const GZIP_LEVEL = 6;

const OFFERED: Coding[] = ['br', 'gzip', 'identity'];
// negotiator 1.x breaks ties between equal q-values by `preferred` (@types/negotiator is 0.6's API)
const preferredEncodings = Negotiator.prototype.encodings as (this: Negotiator, available: string[], options: { preferred: string[] }) => string[];

/** Whether a body of this Content-Type is worth compressing (text, JSON, JS, SVG, XML…). */
export function compressibleType(contentType: string): boolean {
  return compressible(contentType) === true;
}

/** Whether the body of this type and size may be sent in more than one coding. */
export function negotiable(contentType: string, size: number): boolean {
  return size >= MIN_COMPRESS_BYTES && compressibleType(contentType);
}

/**
 * The coding for this request's body, after adding `Vary: Accept-Encoding`. Call only for a
 * negotiable body. `Range` asks for the identity bytes (see above).
 */
export function chooseCoding(ctx: Context): Coding {
  ctx.vary('Accept-Encoding');
  if (ctx.get('range')) return 'identity';
  const header = ctx.get('accept-encoding');
  if (!header) return 'identity';
  const best = preferredEncodings.call(new Negotiator({ headers: { 'accept-encoding': header } }), OFFERED, { preferred: OFFERED })[0];
  return (best as Coding | undefined) ?? 'identity';
}

/** The ETag of a coding's representation, from the identity one's strong `"<tag>"`. */
export function codingEtag(etag: string, coding: Coding): string {
  return coding === 'identity' ? etag : `W/${etag.slice(0, -1)}-${coding}"`;
}

/** A compressing transform for the coding; `sizeHint` (bytes in) lets brotli size its window. */
export function encoder(coding: Exclude<Coding, 'identity'>, sizeHint?: number): Transform {
  if (coding === 'gzip') return createGzip({ level: GZIP_LEVEL });
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  };
  if (sizeHint !== undefined) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
  return createBrotliCompress({ params });
}

/**
 * Streams `body` through the coding's encoder: back-pressure end to end, so memory stays flat
 * whatever the size. An error on either side destroys both; Koa turns the returned stream's
 * error into a cut connection (the status is long sent), and destroys it when the client leaves,
 * which destroys `body` and so cancels the storage read.
 */
export function encodeStream(body: Readable, coding: Exclude<Coding, 'identity'>, sizeHint?: number): Transform {
  const enc = encoder(coding, sizeHint);
  pipeline(body, enc, () => undefined); // errors surface on enc, where Koa listens
  return enc;
}

/**
 * Compresses a page the gateway generated (listing, project home; HTML or JSON, in memory
 * already) by the same rules, after the handler set ctx.body. Such pages carry no validator,
 * so only Vary and Content-Encoding change. Streams (files) are left alone: serving a file
 * negotiates itself, before its conditional and Range checks.
 */
export function compressGeneratedPage(ctx: Context): void {
  const body = ctx.body;
  if (ctx.status !== 200 || body == null || body instanceof Readable || ctx.response.get('Content-Encoding')) return;
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  if (!negotiable(ctx.response.type || 'application/octet-stream', bytes.length)) return;
  const coding = chooseCoding(ctx);
  if (coding === 'identity') return;
  ctx.set('Content-Encoding', coding);
  // the Content-Type stays (Koa keeps one already set); the Content-Length goes with the old body
  ctx.body = encodeStream(Readable.from([bytes]), coding, bytes.length);
}
