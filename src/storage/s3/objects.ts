/** What S3 answers, as the contract's ObjectInfo, and the small conversions around it. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { StorageError } from '../../errors';
import { toStorageKey, type StorageKey } from '../keys';
import type { ObjectInfo } from '../storage';

export function quoted(etag: string | undefined): string {
  if (!etag || etag === '""') throw new StorageError('S3 returned an object without an ETag');
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

export type HeadLike = { ETag?: string; LastModified?: Date; ContentType?: string; Metadata?: Record<string, string> };
export function toInfo(key: StorageKey, size: number, out: HeadLike): ObjectInfo {
  return {
    key,
    size,
    etag: quoted(out.ETag),
    lastModified: out.LastModified ?? new Date(0),
    contentType: out.ContentType,
    metadata: out.Metadata ?? {},
  };
}

/** `x-amz-meta-*` response headers as the SDK's Metadata (names lower-cased, prefix dropped). */
export function metadataOf(headers: IncomingHttpHeaders): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  return metadata;
}

export function asStorageKey(raw: string | undefined): StorageKey | null {
  try {
    return raw === undefined ? null : toStorageKey(raw);
  } catch {
    return null;
  }
}

/**
 * A body that S3 cuts part-way (a reset, a server gone) fails its reader with the driver's typed
 * error, a 503 for a request still waiting, not with node's raw `aborted` socket error. Mapped in
 * the stream's own `_destroy`, not through an extra stream, so inline reads pay nothing for it.
 */
export function mapBodyErrors(body: IncomingMessage, map: (err: Error) => Error): Readable {
  const destroy = body._destroy.bind(body);
  body._destroy = (err, done) => destroy(err, (failure) => done(failure ? map(failure) : failure));
  return body;
}

/** Destroys `body` when `signal` aborts, until the body closes. */
export function cancellable(body: Readable, signal: AbortSignal | undefined): Readable {
  if (!signal) return body;
  const onAbort = () => body.destroy();
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return body;
}
