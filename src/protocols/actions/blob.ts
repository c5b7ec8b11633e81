/**
 * The signed upload URL of cache service v2, speaking Azure Block Blob, because @actions/cache
 * uploads with Azure's BlockBlobClient.uploadFile whatever the URL's host
 * (internal/uploadUtils.ts; @azure/storage-blob Clients.ts uploadSeekableInternal):
 *   PUT <url>                          x-ms-blob-type: BlockBlob; the whole archive (up to 128 MiB)
 *   PUT <url>&comp=block&blockid=<b64> one block (64 MiB, 8 at once, in any order)
 *   PUT <url>&comp=blocklist           <BlockList><Latest>b64</Latest>…</BlockList>: the order
 * Each answers 201 with x-ms-request-id. No Authorization header: the URL is signed
 * (upload-url.ts). Errors are Azure's XML (<Error><Code/><Message/></Error>, x-ms-error-code),
 * which the SDK turns into its RestError message. Nothing is visible before
 * FinalizeCacheEntryUpload (twirp.ts) commits the entry.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Config } from '../../config';
import { AppError, BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError } from '../../errors';
import { acceptBody, declaredLength } from '../../http/body';
import { pathParam } from '../../http/params';
import type { RequestState } from '../../http/request-context';
import { BLOB_PATH, type UploadUrlSigner } from './upload-url';
import { ActionsUploads, BlockBlobError, MAX_BLOCKS } from './uploads';

/** Azure's limit on one staged block. */
const MAX_BLOCK_BYTES = 4000 * 1024 * 1024;
/** A block list of 50,000 ids of 64 bytes, with its tags. */
const MAX_BLOCK_LIST_BYTES = 8 * 1024 * 1024;

export function blobRoutes(deps: { config: Config; uploads: ActionsUploads; signer: UploadUrlSigner }): Router<RequestState> {
  const { config, uploads, signer } = deps;
  const router = new Router<RequestState>();

  router.put(`${BLOB_PATH}/:project/:uploadId`, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('x-ms-request-id', ctx.state.requestId);
    ctx.set('x-ms-version', ctx.get('x-ms-version') || '2025-01-05');
    try {
      const project = pathParam(ctx, 'project');
      const uploadId = pathParam(ctx, 'uploadId');
      // the signature first: an unsigned request learns nothing, not even whether the upload exists
      const grant = signer.verify(project, uploadId, new URLSearchParams(ctx.querystring));
      const upload = await uploads.get(project, uploadId);
      if (!upload || upload.api !== 'v2') throw new NotFoundError('no save is in progress at this URL (finalized, or never started)');
      if (upload.nonce !== grant.nonce) throw new ForbiddenError('this upload URL was replaced by a newer save of the same key and version');
      const comp = one(ctx, 'comp');
      if (comp === undefined) {
        if (ctx.get('x-ms-blob-type') !== 'BlockBlob') throw new BlockBlobError('InvalidHeaderValue', 'x-ms-blob-type must be BlockBlob');
        await uploads.putBlob(project, uploadId, upload, ctx.req, declaredLength(ctx, config.caches.maxBytes, 'Actions cache'));
      } else if (comp === 'block') {
        const id = blockId(one(ctx, 'blockid') ?? '');
        const length = declaredLength(ctx, Math.min(config.caches.maxBytes, MAX_BLOCK_BYTES), 'Actions cache block');
        await uploads.stageBlock(project, upload, id, ctx.req, length);
      } else if (comp === 'blocklist') {
        await uploads.commitBlocks(project, uploadId, upload, parseBlockList(await readText(ctx)));
      } else {
        throw new BlockBlobError(
          'UnsupportedQueryParameter',
          `comp=${comp} is not served: this URL takes a Block Blob upload (a PUT, or comp=block and comp=blocklist)`,
        );
      }
      ctx.status = 201;
      ctx.set('Last-Modified', new Date().toUTCString());
      ctx.body = '';
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err; // logged and answered by the error handler
      ctx.status = err.status;
      const code = azureCode(err);
      ctx.set('x-ms-error-code', code);
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${escapeXml(err.message)}</Message></Error>`;
    }
  });

  return router;
}

function one(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new BlockBlobError('InvalidQueryParameterValue', `${name} is given more than once`);
  return v;
}

/** A block id (base64 of at most 64 bytes, as Azure allows) as the hex of its bytes. */
export function blockId(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0 || bytes.length === 0 || bytes.length > 64 || bytes.toString('base64') !== b64) {
    throw new BlockBlobError('InvalidQueryParameterValue', 'blockid must be base64 of 1 to 64 bytes');
  }
  return bytes.toString('hex');
}

/**
 * The ids of a block list, in order. Latest and Uncommitted name staged blocks; Committed names a
 * block of an earlier commit, which no upload here has, so it is an unknown block like any other.
 */
export function parseBlockList(xml: string): string[] {
  const doc = /^\uFEFF?\s*(?:<\?xml[^?]*\?>)?\s*<BlockList>([\s\S]*)<\/BlockList>\s*$/.exec(xml);
  if (!doc) throw new BlockBlobError('InvalidXmlDocument', 'the block list must be <BlockList><Latest>id</Latest>…</BlockList>');
  const element = /\s*<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>\s*/y;
  const ids: string[] = [];
  for (let pos = 0; pos < doc[1].length; pos = element.lastIndex) {
    element.lastIndex = pos;
    const m = element.exec(doc[1]);
    if (!m) throw new BlockBlobError('InvalidXmlDocument', 'the block list holds something other than <Latest>, <Uncommitted> or <Committed> elements');
    if (ids.length === MAX_BLOCKS) throw new BlockBlobError('InvalidBlockList', `a block list names at most ${MAX_BLOCKS} blocks`);
    if (m[1] === 'Committed') throw new BlockBlobError('InvalidBlockList', `block ${m[2]} is named as committed, but this upload has committed no blocks`);
    ids.push(blockId(m[2]));
  }
  if (ids.length === 0) throw new BlockBlobError('InvalidBlockList', 'the block list names no block');
  return ids;
}

async function readText(ctx: Context): Promise<string> {
  acceptBody(ctx);
  try {
    return await getRawBody(ctx.req, { limit: MAX_BLOCK_LIST_BYTES, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new PayloadTooLargeError(`a block list is at most ${MAX_BLOCK_LIST_BYTES} bytes`);
    if (type === 'request.size.invalid') throw new BadRequestError('the block list is shorter or longer than its Content-Length');
    throw err;
  }
}

function azureCode(err: AppError): string {
  if (err instanceof BlockBlobError) return err.azureCode;
  switch (err.status) {
    case 401:
    case 403:
      return 'AuthenticationFailed';
    case 404:
      return 'BlobNotFound';
    case 411:
      return 'MissingContentLengthHeader';
    case 413:
      return 'RequestBodyTooLarge';
    default:
      return 'InvalidInput';
  }
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
