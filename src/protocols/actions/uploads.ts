/**
 * Saves of the Actions cache service between reserve and commit, on the cache store's own
 * reservations (p/<project>/r/<id>, caches/layout.ts), so gc treats them as it treats direct
 * uploads: once older than CACHE_UPLOAD_TTL and a day, the reservation is deleted
 * (retention/cache-uploads.ts), and the pieces and archive it left are orphans to the sweep.
 *
 * Bytes go to storage as they arrive, never to memory:
 * - v2 (Azure Block Blob at the signed URL): a single PUT streams straight into the upload's
 *   archive object; staged blocks are objects of their own, and the block list streams them, in
 *   its order, into the archive object. The entry is committed by FinalizeCacheEntryUpload.
 * - v1 (PATCH with Content-Range): each chunk is an object named by its offset; the commit checks
 *   they tile the archive exactly and streams them into the entry (CacheStore.save).
 * Pieces are read back once more when assembled: the price of accepting any order (S3 multipart
 * parts are assembled by number, which neither protocol gives up front).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Config } from '../../config';
import { BadRequestError, ConflictError, PayloadTooLargeError } from '../../errors';
import * as layout from '../../caches/layout';
import type { CacheEntry, CacheStore, CacheWriter } from '../../caches/store';
import type { StorageKey } from '../../storage/keys';
import { toStorageKey } from '../../storage/keys';
import type { Storage } from '../../storage/storage';
import { putJson, readEntry, createEntry, writeHashed } from '../../write-once';

export interface ActionsUpload {
  api: 'v1' | 'v2';
  /** The store key (`actions/<version>/<key>`) the entry will have. */
  key: string;
  scope: string;
  /** Where the archive is written (v2) or assembled (v1). */
  object: string;
  /** Bound into the v2 upload URL: a new one when a stale upload is taken over. */
  nonce: string;
  createdBy: CacheWriter;
  createdAt: string;
  /** v1: the cacheSize given at reserve. */
  size?: number;
  /** v2: what the upload URL holds, once a PUT or a block list completed it (`blocks`: the list's hash). */
  blob?: { size: number; sha256: string; blocks?: string };
}

/** Azure's limit on blocks in one blob. */
export const MAX_BLOCKS = 50_000;

/** An error of the kind Azure Blob Storage answers (its `x-ms-error-code`); the blob route writes it as Azure XML. */
export class BlockBlobError extends BadRequestError {
  constructor(
    readonly azureCode: string,
    message: string,
  ) {
    super(message, azureCode);
  }
}

export class ActionsUploads {
  constructor(private readonly deps: { storage: Storage; store: CacheStore; config: Config; now: () => number }) {}

  /** A v2 upload's id: one per scope, key and version, so FinalizeCacheEntryUpload (which names no id) finds it. */
  static v2Id(scope: string, storeKey: string): string {
    const h = createHash('sha256')
      .update(JSON.stringify(['actions-v2', scope, storeKey]))
      .digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  /** A v1 upload's id: the client's cacheId is a number, so the id is made from one (48 random bits). */
  static v1Id(): { cacheId: number; uploadId: string } {
    const bits = randomBytes(6).toString('hex');
    return { cacheId: parseInt(bits, 16), uploadId: ActionsUploads.v1UploadId(parseInt(bits, 16)) };
  }

  static v1UploadId(cacheId: number): string {
    return `00000000-0000-4000-8000-${cacheId.toString(16).padStart(12, '0')}`;
  }

  /**
   * Reserves `uploadId`; null while another live upload holds it. One older than CACHE_UPLOAD_TTL
   * (its URL expired: a cancelled job) is taken over, so it blocks the key no longer than that.
   */
  async reserve(project: string, uploadId: string, fields: Pick<ActionsUpload, 'api' | 'key' | 'scope' | 'createdBy' | 'size'>): Promise<ActionsUpload | null> {
    const { storage, store, config, now } = this.deps;
    const upload: ActionsUpload = {
      ...fields,
      object: store.newObjectKey(project),
      nonce: randomUUID(),
      createdAt: new Date(now()).toISOString(),
    };
    const rKey = layout.reservationKey(project, uploadId);
    if (await createEntry(storage, 'cache', rKey, upload)) return upload;
    const existing = await this.get(project, uploadId);
    if (existing && now() - Date.parse(existing.createdAt) <= config.caches.uploadTtlSeconds * 1000) return null;
    await putJson(storage, 'cache', rKey, upload);
    return upload;
  }

  async get(project: string, uploadId: string): Promise<ActionsUpload | null> {
    const r = await readEntry<ActionsUpload>(this.deps.storage, 'cache', layout.reservationKey(project, uploadId));
    // direct uploads of the caches API share the reservations' place; they are not ours
    return r && (r.api === 'v1' || r.api === 'v2') && layout.objectKeyIn(project, r.object) ? r : null;
  }

  /** v2: a single PUT of the whole archive. */
  async putBlob(project: string, uploadId: string, upload: ActionsUpload, body: Readable, length: number): Promise<void> {
    const object = this.object(project, upload);
    const stored = await writeHashed(this.deps.storage, 'cache', object, body, { contentLength: length, contentType: 'application/octet-stream' });
    await putJson(this.deps.storage, 'cache', layout.reservationKey(project, uploadId), { ...upload, blob: stored });
  }

  /** v2: one staged block (`id`: the block id's bytes in hex). */
  async stageBlock(project: string, upload: ActionsUpload, id: string, body: Readable, length: number): Promise<void> {
    await this.deps.storage.write('cache', layout.pieceKey(this.object(project, upload), `b${id}`), body, { contentLength: length });
  }

  /** v2: the block list; every block must have been staged. Assembles the archive, then drops every staged block. */
  async commitBlocks(project: string, uploadId: string, upload: ActionsUpload, ids: string[]): Promise<void> {
    const { storage, config } = this.deps;
    const object = this.object(project, upload);
    if (new Set(ids).size !== ids.length) throw new BlockBlobError('InvalidBlockList', 'the block list names a block more than once');
    const blocks = createHash('sha256').update(ids.join(',')).digest('hex');
    // the same list again (its answer was lost and the SDK retried): already committed
    if (upload.blob?.blocks === blocks) return;
    const pieces: StorageKey[] = [];
    let total = 0;
    for (const id of ids) {
      const key = layout.pieceKey(object, `b${id}`);
      const info = await storage.stat('cache', key);
      if (!info) {
        const base64 = Buffer.from(id, 'hex').toString('base64');
        throw new BlockBlobError('InvalidBlockList', `the block list names block ${base64}, which was never uploaded (nothing was committed)`);
      }
      pieces.push(key);
      total += info.size;
    }
    if (total > config.caches.maxBytes) throw new PayloadTooLargeError(`${total} bytes is over the ${config.caches.maxBytes}-byte cache limit`);
    const stored = await writeHashed(storage, 'cache', object, concat(storage, pieces), { contentLength: total, contentType: 'application/octet-stream' });
    await putJson(storage, 'cache', layout.reservationKey(project, uploadId), { ...upload, blob: { ...stored, blocks } });
    await this.dropPieces(object);
  }

  /** v2: commits the archive the upload URL holds, if it is `size` bytes. */
  async finalize(project: string, uploadId: string, upload: ActionsUpload, size: number): Promise<CacheEntry> {
    if (!upload.blob) throw new BadRequestError('nothing was uploaded to the upload URL: upload the archive before finalizing');
    if (upload.blob.size !== size) throw new BadRequestError(`the upload URL holds ${upload.blob.size} bytes, not the ${size} being finalized`);
    const done = () => this.deps.storage.delete('cache', layout.reservationKey(project, uploadId)).catch(() => undefined);
    let entry: CacheEntry;
    try {
      entry = await this.deps.store.commitObject(project, upload.scope, upload.key, this.object(project, upload), upload.blob, upload.createdBy);
    } catch (err) {
      // a lost race is final; anything else (storage down) may be retried by the client
      if (err instanceof ConflictError) await done();
      throw err;
    }
    await done();
    return entry;
  }

  /** v1: one chunk at bytes start…end (inclusive). */
  async stageChunk(project: string, upload: ActionsUpload, start: number, end: number, body: Readable): Promise<void> {
    await this.deps.storage.write('cache', layout.pieceKey(this.object(project, upload), chunkName(start)), body, { contentLength: end - start + 1 });
  }

  /** v1: the chunks must tile 0…size-1 exactly (no gap, no overlap); streams them into the entry. */
  async commitChunks(project: string, uploadId: string, upload: ActionsUpload, size: number): Promise<CacheEntry> {
    const { storage, store } = this.deps;
    const object = this.object(project, upload);
    if (upload.size !== undefined && upload.size !== size) throw new BadRequestError(`the cache was reserved for ${upload.size} bytes, not ${size}`);
    const chunks: Array<{ key: StorageKey; start: number; size: number }> = [];
    for await (const item of this.pieces(object)) {
      const m = /\.c(\d{15})$/.exec(item.key);
      if (m) chunks.push({ key: item.key, start: Number(m[1]), size: item.size });
    }
    // names are zero-padded offsets: listed in order
    let next = 0;
    for (const c of chunks) {
      if (c.start > next) throw new BadRequestError(`bytes ${next}-${c.start - 1} were never uploaded; nothing was committed`);
      if (c.start < next) throw new BadRequestError(`the chunk at byte ${c.start} overlaps the one before it; nothing was committed`);
      next = c.start + c.size;
    }
    if (next !== size) throw new BadRequestError(`the chunks add up to ${next} bytes, not the ${size} being committed; nothing was committed`);
    let entry: CacheEntry;
    try {
      const body = concat(
        storage,
        chunks.map((c) => c.key),
      );
      entry = await store.save(project, upload.scope, upload.key, body, { contentLength: size, createdBy: upload.createdBy });
    } catch (err) {
      // a lost race is final; anything else (storage down) may be retried by the client
      if (err instanceof ConflictError) await this.discard(project, uploadId, upload);
      throw err;
    }
    await this.discard(project, uploadId, upload);
    return entry;
  }

  /** Deletes an upload's reservation and staged pieces (the v2 archive object, if any, is the caller's). */
  async discard(project: string, uploadId: string, upload: ActionsUpload): Promise<void> {
    await this.dropPieces(this.object(project, upload)).catch(() => undefined);
    await this.deps.storage.delete('cache', layout.reservationKey(project, uploadId)).catch(() => undefined);
  }

  private object(project: string, upload: ActionsUpload): StorageKey {
    const object = layout.objectKeyIn(project, upload.object);
    if (!object) throw new BadRequestError('the upload names no archive of this project');
    return object;
  }

  private async *pieces(object: StorageKey) {
    let pageToken: string | undefined;
    do {
      const page = await this.deps.storage.list('cache', layout.piecesPrefix(object), { pageToken });
      yield* page.items;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  private async dropPieces(object: StorageKey): Promise<void> {
    const keys: StorageKey[] = [];
    for await (const item of this.pieces(object)) keys.push(toStorageKey(item.key));
    for (const key of keys) await this.deps.storage.delete('cache', key);
  }
}

const chunkName = (start: number): string => `c${String(start).padStart(15, '0')}`;

/** The pieces' bytes one after another, each streamed from storage in turn. */
function concat(storage: Storage, keys: StorageKey[]): Readable {
  return Readable.from(
    (async function* () {
      for (const key of keys) {
        const { body } = await storage.read('cache', key);
        yield* body;
      }
    })(),
    { objectMode: false },
  );
}
