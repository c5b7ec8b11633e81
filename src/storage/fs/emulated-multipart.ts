/**
 * Multipart uploads for a driver without them (fs), built only on the Storage primitives: each
 * part is an ordinary object under the reserved prefix `.multipart/<uploadId>/`, uploaded through
 * a presigned PUT, and completion streams the parts, in order, into one create of the target key.
 * Memory stays flat; the parts are deleted afterwards. Keys under `.multipart/` are the driver's.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { BadRequestError, NotFoundError } from '../../errors';
import { joinKey, toKeyPrefix, type StorageKey } from '../keys';
import type { BucketName, ObjectInfo, Storage, UploadedPart } from '../storage';

export const MULTIPART_PREFIX = '.multipart';
const UPLOAD_ID = /^[a-f0-9]{32}$/;
export const MAX_PARTS = 10_000;

type Primitives = Pick<Storage, 'write' | 'read' | 'stat' | 'delete' | 'list' | 'presignPut'>;

const unquote = (etag: string) => etag.replace(/^W\//, '').replace(/"/g, '');

export class EmulatedMultipart {
  constructor(private readonly storage: Primitives) {}

  private partKey(uploadId: string, partNumber: number): StorageKey {
    return joinKey(MULTIPART_PREFIX, uploadId, String(partNumber).padStart(5, '0'));
  }

  private markerKey(uploadId: string): StorageKey {
    return joinKey(MULTIPART_PREFIX, uploadId, 'target');
  }

  /** The marker records which key the upload is for, so its parts cannot be completed into another. */
  private async requireUpload(bucket: BucketName, key: StorageKey, uploadId: string): Promise<void> {
    if (!UPLOAD_ID.test(uploadId)) throw new NotFoundError('no such multipart upload');
    try {
      const { body } = await this.storage.read(bucket, this.markerKey(uploadId));
      if ((await buffer(body)).toString('utf8') === key) return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    throw new NotFoundError('no such multipart upload');
  }

  async create(bucket: BucketName, key: StorageKey): Promise<string> {
    const uploadId = randomBytes(16).toString('hex');
    await this.storage.write(bucket, this.markerKey(uploadId), Readable.from([Buffer.from(key)]), { ifNoneMatch: true });
    return uploadId;
  }

  async presignPart(bucket: BucketName, key: StorageKey, uploadId: string, partNumber: number, expiresIn: number): Promise<string> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
      throw new BadRequestError(`part numbers run from 1 to ${MAX_PARTS}`);
    }
    await this.requireUpload(bucket, key, uploadId);
    return this.storage.presignPut(bucket, this.partKey(uploadId, partNumber), { expiresIn });
  }

  async complete(bucket: BucketName, key: StorageKey, uploadId: string, parts: UploadedPart[]): Promise<ObjectInfo> {
    await this.requireUpload(bucket, key, uploadId);
    if (parts.length === 0) throw new BadRequestError('a multipart upload needs at least one part');
    const keys: StorageKey[] = [];
    let total = 0;
    for (const [i, part] of parts.entries()) {
      if (part.partNumber !== i + 1) throw new BadRequestError('parts must be numbered 1, 2, 3… in order');
      const partKey = this.partKey(uploadId, part.partNumber);
      const info = await this.storage.stat(bucket, partKey);
      if (!info) throw new BadRequestError(`part ${part.partNumber} was never uploaded`);
      if (unquote(info.etag) !== unquote(part.etag)) throw new BadRequestError(`part ${part.partNumber}'s etag does not match the uploaded part`);
      keys.push(partKey);
      total += info.size;
    }
    const body = new PassThrough();
    const feeding = (async () => {
      for (const partKey of keys) {
        const { body: partBody } = await this.storage.read(bucket, partKey);
        await pipeline(partBody, body, { end: false });
      }
      body.end();
    })().catch((err: unknown) => body.destroy(err as Error));
    const info = await this.storage.write(bucket, key, body, { contentLength: total });
    await feeding;
    await this.abort(bucket, key, uploadId);
    return info;
  }

  /**
   * Aborts the uploads started before `startedBefore` (by their marker, or by their oldest part
   * where a crash in abort() left parts without one): what S3's ListMultipartUploads and
   * AbortMultipartUpload do for a driver with real multipart uploads.
   */
  async abortStartedBefore(bucket: BucketName, startedBefore: Date): Promise<{ count: number; bytes: number }> {
    const uploads = new Map<string, { startedAt: number; bytes: number }>();
    let pageToken: string | undefined;
    do {
      const page = await this.storage.list(bucket, toKeyPrefix(`${MULTIPART_PREFIX}/`), { pageToken });
      for (const item of page.items) {
        const [, uploadId, name] = item.key.split('/');
        if (!uploadId || !UPLOAD_ID.test(uploadId)) continue;
        const u = uploads.get(uploadId) ?? { startedAt: Infinity, bytes: 0 };
        const at = item.lastModified.getTime();
        u.startedAt = name === 'target' ? at : Math.min(u.startedAt, at);
        u.bytes += name === 'target' ? 0 : item.size;
        uploads.set(uploadId, u);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    let count = 0;
    let bytes = 0;
    for (const [uploadId, u] of uploads) {
      if (u.startedAt >= startedBefore.getTime()) continue;
      await this.abort(bucket, joinKey(MULTIPART_PREFIX, uploadId), uploadId);
      count++;
      bytes += u.bytes;
    }
    return { count, bytes };
  }

  async abort(bucket: BucketName, _key: StorageKey, uploadId: string): Promise<void> {
    if (!UPLOAD_ID.test(uploadId)) return;
    const prefix = toKeyPrefix(`${MULTIPART_PREFIX}/${uploadId}/`);
    for (;;) {
      const page = await this.storage.list(bucket, prefix);
      if (page.items.length === 0) return;
      for (const item of page.items) await this.storage.delete(bucket, item.key);
    }
  }
}
