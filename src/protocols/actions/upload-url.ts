/**
 * The signed blob upload URL CreateCacheEntry hands out. @actions/cache uploads to it with
 * Azure's BlockBlobClient whatever its host (internal/uploadUtils.ts), so it must carry its own
 * authorisation, as an Azure SAS URL does: no Authorization header is sent.
 *
 *   <PUBLIC_URL>/actions-cache/blobs/<project, percent-encoded>/<upload id>
 *     ?nonce=<the upload's nonce>&expires=<unix seconds>&sig=<hex HMAC-SHA256>
 *
 * Bound to one upload (project, id and the nonce its reservation holds: taking a stale upload
 * over makes a new nonce, so the old URL stops working) and short-lived (CACHE_UPLOAD_TTL). The
 * Azure SDK appends its own `comp`/`blockid` parameters, which are not signed. `sig` is one of the
 * query names the access log redacts (http/logger.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ForbiddenError } from '../../errors';

export const BLOB_PATH = '/actions-cache/blobs';

export interface UploadGrant {
  project: string;
  uploadId: string;
  nonce: string;
}

export class UploadUrlSigner {
  constructor(
    private readonly key: Buffer,
    private readonly origin: string,
    private readonly now: () => number,
  ) {}

  sign(grant: UploadGrant, expiresIn: number): string {
    const expires = Math.ceil((this.now() + expiresIn * 1000) / 1000);
    const query = new URLSearchParams({ nonce: grant.nonce, expires: String(expires), sig: this.mac(grant, expires) });
    return `${this.origin}${BLOB_PATH}/${encodeURIComponent(grant.project)}/${grant.uploadId}?${query.toString()}`;
  }

  /** The grant of a request's URL; ForbiddenError when it is unsigned, forged, altered or expired. */
  verify(project: string, uploadId: string, query: URLSearchParams): UploadGrant {
    const one = (name: string): string => {
      const all = query.getAll(name);
      // two copies of a signed field leave it ambiguous which one was signed
      if (all.length !== 1) throw new ForbiddenError(all.length ? `the upload URL repeats ${name}` : 'the upload URL is not signed');
      return all[0];
    };
    const nonce = one('nonce');
    const expires = one('expires');
    const sig = one('sig');
    if (!/^\d{1,15}$/.test(expires) || !/^[0-9a-f]{64}$/.test(sig)) throw new ForbiddenError('the upload URL is not signed');
    const grant = { project, uploadId, nonce };
    if (!timingSafeEqual(Buffer.from(sig, 'hex'), Buffer.from(this.mac(grant, Number(expires)), 'hex'))) {
      throw new ForbiddenError('the upload URL signature does not match');
    }
    if (this.now() >= Number(expires) * 1000) throw new ForbiddenError('the upload URL has expired; start the save again');
    return grant;
  }

  private mac(g: UploadGrant, expires: number): string {
    const fields = ['agw-actions-upload-v1', g.project, g.uploadId, g.nonce, expires];
    return createHmac('sha256', this.key).update(JSON.stringify(fields)).digest('hex');
  }
}
