/**
 * Figure 6, the GitHub Actions cache service: a 1 GiB archive saved and restored the way
 * `@actions/cache` 6.x does it with the v2 service (the client's own calls: CreateCacheEntry,
 * the Azure Block Blob upload to the signed URL in 64 MiB blocks, 8 at once, then the block
 * list, FinalizeCacheEntryUpload; GetCacheEntryDownloadURL, then one GET of the URL it names),
 * against a direct presigned PUT and GET of 1 GiB to and from radosgw in the same run. Each
 * transfer once (1 GiB each way is long enough to average out); the entries are left for gc.
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { call, download, expectStatus, mapLimit, pattern, upload } from '../lib/http';
import { jobToken, mb, MiB, type BenchContext, type Row } from '../lib/context';

const PROJECT = 'bench-actions';
const SIZE = 1024 * MiB;
const BLOCK = 64 * MiB;
const BLOCKS_AT_ONCE = 8;
const TWIRP = '/twirp/github.actions.results.api.v1.CacheService';

export async function actionsCacheFigure(ctx: BenchContext): Promise<Row[]> {
  const token = await jobToken(ctx, PROJECT, '1', ['cache:read', 'cache:write']);
  const api = { port: ctx.gateway.port, host: ctx.gateway.apiHost };
  const twirp = async (method: string, body: unknown) => {
    const reply = await call(
      { ...api, method: 'POST', path: `${TWIRP}/${method}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      JSON.stringify(body),
    );
    expectStatus(method, reply, 200);
    return JSON.parse(reply.body.toString('utf8')) as Record<string, string | boolean>;
  };
  const chunk = pattern(MiB, 8);
  const key = `bench-1gib-${randomBytes(4).toString('hex')}`;
  const version = 'a'.repeat(64);

  ctx.log('figure 6: @actions/cache v2 save of 1 GiB through the gateway (64 MiB blocks, 8 at once)');
  const saveStart = process.hrtime.bigint();
  const created = await twirp('CreateCacheEntry', { key, version });
  if (created.ok !== true) throw new Error(`CreateCacheEntry refused: ${String(created.message)}`);
  const uploadUrl = new URL(String(created.signed_upload_url));
  const target = (query: string) => ({ port: Number(uploadUrl.port), host: uploadUrl.host, path: `${uploadUrl.pathname}${uploadUrl.search}&${query}` });
  const ids = Array.from({ length: SIZE / BLOCK }, (_, i) => Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64'));
  await mapLimit(ids, BLOCKS_AT_ONCE, async (id) => {
    const reply = await upload({ ...target(`comp=block&blockid=${encodeURIComponent(id)}`) }, BLOCK, chunk);
    expectStatus('block upload', reply, 201);
  });
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  expectStatus('block list', await call({ ...target('comp=blocklist'), method: 'PUT', headers: { 'content-type': 'application/xml' } }, list), 201);
  const finalized = await twirp('FinalizeCacheEntryUpload', { key, version, size_bytes: String(SIZE) });
  if (finalized.ok !== true) throw new Error('FinalizeCacheEntryUpload did not commit the entry');
  const saveSeconds = Number(process.hrtime.bigint() - saveStart) / 1e9;

  ctx.log('figure 6: @actions/cache v2 restore of 1 GiB (the download URL, then one GET)');
  const restoreStart = process.hrtime.bigint();
  const found = await twirp('GetCacheEntryDownloadURL', { key, restore_keys: [], version });
  if (found.ok !== true) throw new Error('GetCacheEntryDownloadURL missed the entry just saved');
  const downloadUrl = new URL(String(found.signed_download_url));
  const got = await download({ port: Number(downloadUrl.port), host: downloadUrl.host, path: downloadUrl.pathname + downloadUrl.search });
  if (got.status !== 200 || got.bytes !== SIZE) throw new Error(`the restore's download gave HTTP ${got.status}, ${got.bytes} bytes`);
  const restoreSeconds = Number(process.hrtime.bigint() - restoreStart) / 1e9;

  ctx.log('figure 6: direct presigned PUT and GET of 1 GiB');
  const bucket = ctx.gateway.env.CACHE_BUCKET;
  const directKey = `bench-direct/actions-${key}.bin`;
  const put = new URL(await getSignedUrl(ctx.s3client, new PutObjectCommand({ Bucket: bucket, Key: directKey }), { expiresIn: 900 }));
  const direct = await upload({ port: Number(put.port), host: put.host, path: put.pathname + put.search }, SIZE, chunk);
  expectStatus('direct presigned PUT', direct, 200);
  const get = new URL(await getSignedUrl(ctx.s3client, new GetObjectCommand({ Bucket: bucket, Key: directKey }), { expiresIn: 900 }));
  const directGet = await download({ port: Number(get.port), host: get.host, path: get.pathname + get.search });
  if (directGet.status !== 200 || directGet.bytes !== SIZE) throw new Error(`direct GET gave HTTP ${directGet.status}`);

  return [
    {
      figure: '6',
      what: '@actions/cache v2 save of 1 GiB through the gateway (blocks, then assembly), MB/s',
      value: mb(SIZE / saveSeconds),
      unit: 'MB/s',
      baseline: { what: 'direct presigned PUT of 1 GiB', value: mb(SIZE / direct.seconds) },
      ratio: direct.seconds / saveSeconds,
      target: '—',
      detail: { saveSeconds, directSeconds: direct.seconds },
    },
    {
      figure: '6',
      what: '@actions/cache v2 restore of 1 GiB (download URL, then a direct GET), MB/s',
      value: mb(SIZE / restoreSeconds),
      unit: 'MB/s',
      baseline: { what: 'direct presigned GET of 1 GiB', value: mb(SIZE / directGet.seconds) },
      ratio: directGet.seconds / restoreSeconds,
      target: '—',
      detail: { restoreSeconds, directSeconds: directGet.seconds },
    },
  ];
}
