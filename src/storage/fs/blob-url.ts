/**
 * The fs driver's stand-in for S3 presigned URLs: expiring, HMAC-signed blob URLs that the gateway
 * serves itself (src/http/fs-blob-route.ts), with the same response overrides, so the 302 path
 * behaves the same whichever driver runs.
 *
 *   <blobBaseUrl>/<bucket>/<key, each segment percent-encoded>
 *     ?X-Method=GET|PUT
 *     &X-Expires=<unix seconds>
 *     [&response-content-type=…][&response-content-disposition=…]   (GET)
 *     [&X-Content-Type=…]                                              (PUT: the upload must send it)
 *     &X-Signature=<hex HMAC-SHA256>
 *
 * The HMAC covers a JSON array of every field, absent ones as null, so no field can be added,
 * removed, or shifted into its neighbour (JSON needs no delimiter escaping of its own).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BadRequestError, ForbiddenError } from '../../errors';
import type { StorageKey } from '../keys';
import type { BucketName, Storage } from '../storage';

export type BlobMethod = 'GET' | 'PUT';

interface SignTarget {
  bucket: BucketName;
  key: StorageKey;
  /** Seconds from now. */
  expiresIn: number;
}

/** What a verified URL allows; the route applies exactly these overrides. */
export interface BlobGrant {
  method: BlobMethod;
  bucket: string;
  key: string;
  expires: number;
  responseContentType?: string;
  responseContentDisposition?: string;
  /** PUT only: the Content-Type the upload must carry. */
  contentType?: string;
}

/**
 * What the gateway's blob route needs of the fs driver beyond Storage: where the URLs point, and
 * what a request's URL grants. The route sees the driver only through this and Storage.
 */
export interface SignedBlobs {
  /** The route's base URL, without a trailing '/'. */
  readonly blobBaseUrl: string;
  /** The grant the URL of a request carries; ForbiddenError when it is forged, altered or expired. HEAD uses GET's. */
  verifyBlobRequest(method: BlobMethod, bucket: string, key: string, query: URLSearchParams): BlobGrant;
}

/** The fs driver as the blob route sees it: its signed URLs, and the object calls it serves them with. */
export type BlobStore = SignedBlobs & Pick<Storage, 'stat' | 'read' | 'write'>;

const P = {
  method: 'X-Method',
  expires: 'X-Expires',
  responseContentType: 'response-content-type',
  responseContentDisposition: 'response-content-disposition',
  contentType: 'X-Content-Type',
  signature: 'X-Signature',
} as const;

/** S3's limit on a presigned URL's lifetime. */
const MAX_EXPIRES_IN = 7 * 24 * 3600;

// encodeURIComponent leaves !'()* alone; S3 encodes everything but the unreserved set.
const encodeSegment = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class BlobSigner {
  readonly baseUrl: string;
  private readonly secret: Buffer;

  constructor(
    secret: Buffer | string,
    baseUrl: string,
    private readonly now: () => number,
  ) {
    this.secret = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8');
    if (this.secret.length === 0) throw new Error('the fs driver needs a non-empty signing secret');
    this.baseUrl = new URL(baseUrl).href.replace(/\/+$/, '');
  }

  sign(grant: Omit<BlobGrant, 'expires' | 'bucket' | 'key'> & SignTarget): string {
    const { expiresIn } = grant;
    if (!Number.isFinite(expiresIn) || expiresIn <= 0 || expiresIn > MAX_EXPIRES_IN) {
      throw new BadRequestError(`expiresIn must be between 1 and ${MAX_EXPIRES_IN} seconds`);
    }
    // rounded up: a URL lives at least expiresIn seconds, never less
    const full: BlobGrant = { ...grant, expires: Math.ceil((this.now() + expiresIn * 1000) / 1000) };
    const query = new URLSearchParams({ [P.method]: full.method, [P.expires]: String(full.expires) });
    if (full.responseContentType !== undefined) query.set(P.responseContentType, full.responseContentType);
    if (full.responseContentDisposition !== undefined) {
      query.set(P.responseContentDisposition, full.responseContentDisposition);
    }
    if (full.contentType !== undefined) query.set(P.contentType, full.contentType);
    query.set(P.signature, this.mac(full).toString('hex'));
    const path = grant.key.split('/').map(encodeSegment).join('/');
    return `${this.baseUrl}/${grant.bucket}/${path}?${query.toString()}`;
  }

  /** The grant a request's URL carries; ForbiddenError when it is forged, altered or expired. */
  verify(method: BlobMethod, bucket: string, key: string, query: URLSearchParams): BlobGrant {
    const one = (name: string): string | undefined => {
      const all = query.getAll(name);
      // two copies of a signed field leave it ambiguous which one was signed
      if (all.length > 1) throw new ForbiddenError(`the URL repeats ${name}`);
      return all[0];
    };
    const expires = one(P.expires);
    const grant: BlobGrant = {
      method: one(P.method) as BlobMethod,
      bucket,
      key,
      expires: Number(expires),
      responseContentType: one(P.responseContentType),
      responseContentDisposition: one(P.responseContentDisposition),
      contentType: one(P.contentType),
    };
    const signature = one(P.signature);
    if (!signature || !/^[0-9a-f]{64}$/.test(signature) || !expires || !/^\d{1,15}$/.test(expires)) {
      throw new ForbiddenError('the URL is not signed');
    }
    if (!timingSafeEqual(Buffer.from(signature, 'hex'), this.mac(grant))) {
      throw new ForbiddenError('the URL signature does not match');
    }
    if (grant.method !== method) {
      throw new ForbiddenError(`the URL is signed for ${grant.method}, not ${method}`);
    }
    if (this.now() >= grant.expires * 1000) throw new ForbiddenError('the URL has expired');
    return grant;
  }

  private mac(g: BlobGrant): Buffer {
    const fields = [
      'agw-blob-v1',
      g.method ?? null,
      g.bucket,
      g.key,
      g.expires,
      g.responseContentType ?? null,
      g.responseContentDisposition ?? null,
      g.contentType ?? null,
    ];
    return createHmac('sha256', this.secret).update(JSON.stringify(fields)).digest();
  }
}
