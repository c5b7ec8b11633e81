/**
 * What a file is, and how it may be served. Types come from OUR map (mime-types, by name), never
 * from what an uploader or the bucket claims, so a file cannot choose to become HTML.
 *
 * - active: anything a browser would run script in (HTML, XHTML, SVG, XML and friends). Served
 *   only by the gateway, inline, on the project's own origin, with the isolation headers. Never
 *   redirected to the bucket's origin, which every project shares.
 * - passive: everything else. 302 to a short-lived presigned URL; `attachment` unless the type is
 *   known to be safe to render inline on the storage origin.
 */
import contentDisposition from 'content-disposition';
import { contentType as mimeContentType, lookup } from 'mime-types';

export type ContentClass = 'active' | 'passive';

export const OCTET_STREAM = 'application/octet-stream';

/** Full Content-Type (with charset for text) for a file name; octet-stream when unknown. */
export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const type = lookup(name);
  if (!type) return OCTET_STREAM;
  return mimeContentType(type) || type;
}

/** The media type without parameters, lower case. */
export function essence(contentType: string): string {
  return contentType.split(';', 1)[0].trim().toLowerCase();
}

const ACTIVE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'application/xslt+xml',
  'application/mathml+xml',
  'application/rdf+xml',
  'application/atom+xml',
  'application/rss+xml',
  'multipart/x-mixed-replace',
]);

export function classify(contentType: string): ContentClass {
  const t = essence(contentType);
  // any XML type can carry XHTML/SVG namespaces or an XSLT stylesheet that runs script
  return ACTIVE.has(t) || t.endsWith('+xml') || t.endsWith('/xml') ? 'active' : 'passive';
}

// Rendering these inline on the shared storage origin runs no script: raster images, plain
// text (with nosniff), audio and video. Everything else is downloaded.
const SAFE_INLINE = /^(image\/(png|jpeg|gif|webp|avif|bmp|x-icon|vnd\.microsoft\.icon)|text\/plain|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+)$/;

export function safeInline(contentType: string): boolean {
  return SAFE_INLINE.test(essence(contentType));
}

/** RFC 6266 Content-Disposition for the file's own name (UTF-8 names get `filename*`). */
export function dispositionFor(kind: 'inline' | 'attachment', path: string): string {
  return contentDisposition(path.slice(path.lastIndexOf('/') + 1), { type: kind });
}

/**
 * A web app manifest request: a browser's `<link rel=manifest>` fetch says so
 * (`Sec-Fetch-Dest: manifest`), but a service worker that passes it on with `fetch(event.request)`
 * (Playwright's trace viewer does) sends it as `empty`, so the path's type counts too. Either is
 * only a claim: whatever answers it must not depend on its being true.
 */
export function isManifestRequest(dest: string | undefined, path: string): boolean {
  return dest === 'manifest' || essence(contentTypeFor(path)) === 'application/manifest+json';
}

/**
 * A request that the report's own page makes for its own files: streamed from this origin
 * instead of redirected, so `fetch()` of report JSON (no CORS on the bucket), scripts, workers,
 * and stylesheets with relative url()s keep working (CircleCI broke these: allure2 #1085,
 * playwright #18108). Images and media still go to the bucket: they carry no relative references.
 */
export function isSameOriginSubresource(headers: { site?: string; mode?: string; dest?: string }): boolean {
  if (headers.site !== 'same-origin') return false;
  if (headers.mode === 'cors' || headers.mode === 'same-origin') return true;
  return ['script', 'style', 'font', 'worker', 'sharedworker', 'serviceworker', 'manifest', 'empty', 'xslt'].includes(headers.dest ?? '');
}
