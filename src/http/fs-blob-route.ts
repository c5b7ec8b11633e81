/**
 * Serves the fs driver's signed blob URLs (src/storage/fs/blob-url.ts) on the gateway itself, so
 * a 302 to one behaves like a 302 to an S3 presigned URL: GET/HEAD with Range, conditional GET,
 * the signed response overrides; PUT of a body with a declared length.
 */
import type Koa from 'koa';
import { BadRequestError, ForbiddenError, LengthRequiredError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError } from '../errors';
import type { BlobMethod, BlobStore } from '../storage/fs/blob-url';
import { toStorageKey } from '../storage/keys';
import { BUCKETS, type BucketName, type ObjectInfo } from '../storage/storage';
import { acceptBody } from './body';
import { ifNoneMatch, requestedRange, sendLength } from './ranges';

export interface BlobRouteOptions {
  /** Path the route answers under; defaults to the path of the storage's blobBaseUrl. */
  prefix?: string;
  /** Largest PUT body accepted, refused from Content-Length before a byte is read (S3: 5 GiB). */
  maxPutBytes?: number;
}

// Blob URLs serve user content on the API's own host: nothing they return may run or be sniffed
// into something that runs, and a signed URL must not linger in caches or Referer headers.
const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
  'Cache-Control': 'private, no-store',
  'Referrer-Policy': 'no-referrer',
};

const METHODS: Record<string, BlobMethod> = { GET: 'GET', HEAD: 'GET', PUT: 'PUT' };

export function blobRoute(storage: BlobStore, opts: BlobRouteOptions = {}): Koa.Middleware {
  const prefix = (opts.prefix ?? new URL(storage.blobBaseUrl).pathname).replace(/\/+$/, '');
  const maxPutBytes = opts.maxPutBytes ?? 5 * 1024 ** 3;

  return async function blob(ctx, next) {
    if (ctx.path !== prefix && !ctx.path.startsWith(`${prefix}/`)) return next() as Promise<void>;
    ctx.set(SECURITY_HEADERS);
    const signedFor = METHODS[ctx.method];
    if (!signedFor) {
      ctx.set('Allow', 'GET, HEAD, PUT');
      throw new MethodNotAllowedError(`${ctx.method} is not allowed on a blob URL`);
    }
    const rest = ctx.path.slice(prefix.length + 1);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw new NotFoundError('no such blob');
    let rawKey: string;
    try {
      rawKey = decodeURIComponent(rest.slice(slash + 1));
    } catch {
      throw new BadRequestError('the blob path is not valid percent-encoding');
    }
    // the signature check comes first: an unsigned request learns nothing, not even key validity
    const query = new URLSearchParams(ctx.querystring);
    const grant = storage.verifyBlobRequest(signedFor, rest.slice(0, slash), rawKey, query);
    const bucket = grant.bucket as BucketName;
    if (!BUCKETS.includes(bucket)) throw new NotFoundError('no such blob');
    const key = toStorageKey(rawKey);

    if (ctx.method === 'PUT') {
      const length = ctx.get('Content-Length');
      if (!length) throw new LengthRequiredError('a blob PUT needs a Content-Length');
      if (!/^\d{1,16}$/.test(length)) throw new BadRequestError('Content-Length is not a number');
      const contentLength = Number(length);
      if (contentLength > maxPutBytes) {
        throw new PayloadTooLargeError(`a blob PUT is limited to ${maxPutBytes} bytes`);
      }
      const contentType = ctx.get('Content-Type') || undefined;
      // as S3: a URL signed with a content type only accepts uploads that send exactly it
      if (grant.contentType !== undefined && contentType !== grant.contentType) {
        throw new ForbiddenError('the Content-Type differs from the one the URL was signed for');
      }
      acceptBody(ctx);
      const info = await storage.write(bucket, key, ctx.req, {
        contentType,
        contentLength,
        ifNoneMatch: ctx.get('If-None-Match').trim() === '*',
      });
      ctx.set('ETag', info.etag);
      ctx.status = 200;
      ctx.body = '';
      ctx.remove('Content-Type');
      return;
    }

    const info = await storage.stat(bucket, key);
    if (!info) throw new NotFoundError('no such blob');
    const describe = (i: ObjectInfo) => {
      ctx.set({
        ETag: i.etag,
        'Last-Modified': i.lastModified.toUTCString(),
        'Accept-Ranges': 'bytes',
        'Content-Type': grant.responseContentType ?? i.contentType ?? 'application/octet-stream',
      });
      if (grant.responseContentDisposition !== undefined) {
        ctx.set('Content-Disposition', grant.responseContentDisposition);
      }
    };
    describe(info);
    if (ifNoneMatch(ctx.get('If-None-Match'), info.etag)) {
      ctx.status = 304;
      return;
    }
    const range = requestedRange(ctx, info);

    if (ctx.method === 'HEAD') {
      ctx.status = range ? 206 : 200;
      sendLength(ctx, info.size, range);
      return;
    }
    // the client hanging up aborts the read, whatever stage the response is at
    const abort = new AbortController();
    ctx.res.once('close', () => abort.abort());
    const result = await storage.read(bucket, key, { range, signal: abort.signal });
    describe(result.info);
    ctx.body = result.body;
    ctx.status = result.range ? 206 : 200;
    sendLength(ctx, result.info.size, result.range);
  };
}
