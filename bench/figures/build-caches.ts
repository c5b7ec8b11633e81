/**
 * Figure 6, build tools' cache hits through the gateway:
 *  - a turbo hit of a 1 MiB artifact (`GET /v8/artifacts/{hash}`, served through the gateway with
 *    its `x-artifact-tag`), p50 of sequential hits on one connection, against a direct presigned
 *    GET of the same object in the cache bucket (the target: within 1.5x);
 *  - Bazel CAS GETs of a 4 KiB blob (`GET /cache/bazel/cas/{sha256}`, served: Bazel does not
 *    follow redirects), req/s at 64 connections, against nginx serving the same 4 KiB from a file.
 * Both are requests as the real clients make them (what they send is in the protocol suites).
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { call, expectStatus, pattern } from '../lib/http';
import { jobToken, MiB, type BenchContext, type Row } from '../lib/context';
import { startNginxStatic } from '../lib/services';
import { wrk } from '../lib/wrk';

const PROJECT = 'bench-caches';
const TURBO_HASH = 'bench0turbo0hit';

export async function buildCacheFigure(ctx: BenchContext): Promise<Row[]> {
  const token = await jobToken(ctx, PROJECT, '1', ['cache:read', 'cache:write']);
  const auth = { authorization: `Bearer ${token}` };
  const api = { port: ctx.gateway.port, host: ctx.gateway.apiHost };

  // turbo: one 1 MiB artifact, saved as turbo saves it
  const artifact = pattern(MiB, 6);
  const put = await call(
    {
      ...api,
      method: 'PUT',
      path: `/v8/artifacts/${TURBO_HASH}`,
      headers: { ...auth, 'content-type': 'application/octet-stream', 'x-artifact-tag': 'bench-tag' },
    },
    artifact,
  );
  expectStatus('turbo PUT', put, 202);
  const hit = await call({ ...api, path: `/v8/artifacts/${TURBO_HASH}`, headers: auth });
  expectStatus('turbo GET', hit, 200);
  if (!hit.body.equals(artifact) || hit.headers['x-artifact-tag'] !== 'bench-tag') throw new Error('turbo GET did not return the artifact and its tag');
  const direct = await presignedUrlOfOnly(ctx, MiB);

  ctx.log(`figure 6: turbo 1 MiB hit through the gateway and a direct GET of the same object, 1 connection, ${ctx.seconds} s each`);
  const viaGateway = await wrk({
    url: `http://127.0.0.1:${ctx.gateway.port}/v8/artifacts/${TURBO_HASH}`,
    host: ctx.gateway.apiHost,
    headers: auth,
    connections: 1,
    seconds: ctx.seconds,
    dir: ctx.dir,
  });
  const directGet = await wrk({ url: direct, connections: 1, seconds: ctx.seconds, dir: ctx.dir });
  for (const [what, r] of [
    ['gateway', viaGateway],
    ['direct', directGet],
  ] as const) {
    if (r.errors > 0) throw new Error(`figure 6: ${r.errors} errors on the turbo hit (${what})`);
  }

  // Bazel CAS: one 4 KiB blob, named by its sha256
  const blob = pattern(4096, 7);
  const digest = createHash('sha256').update(blob).digest('hex');
  expectStatus('Bazel CAS PUT', await call({ ...api, method: 'PUT', path: `/cache/bazel/cas/${digest}`, headers: auth }, blob), 200);
  const cas = await call({ ...api, path: `/cache/bazel/cas/${digest}`, headers: auth });
  expectStatus('Bazel CAS GET', cas, 200);
  if (!cas.body.equals(blob)) throw new Error('Bazel CAS GET did not return the blob');
  // a directory of its own that nginx's worker (nobody, when the bench runs as root) may read;
  // the bench's temp dir is private
  const root = mkdtempSync(join(tmpdir(), 'agw-bench-static-'));
  let nginxRun;
  try {
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'cas'), { mode: 0o755 });
    writeFileSync(join(root, 'cas', digest), blob, { mode: 0o644 });
    const nginx = await startNginxStatic(ctx.dir, root);
    try {
      ctx.log(`figure 6: nginx serving the same 4 KiB file, 64 connections, ${ctx.seconds} s`);
      nginxRun = await wrk({ url: `http://127.0.0.1:${nginx.port}/cas/${digest}`, connections: 64, seconds: ctx.seconds, dir: ctx.dir });
    } finally {
      await nginx.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  ctx.log(`figure 6: Bazel CAS 4 KiB GET through the gateway, 64 connections, ${ctx.seconds} s`);
  const casRun = await wrk({
    url: `http://127.0.0.1:${ctx.gateway.port}/cache/bazel/cas/${digest}`,
    host: ctx.gateway.apiHost,
    headers: auth,
    connections: 64,
    seconds: ctx.seconds,
    dir: ctx.dir,
  });
  if (casRun.errors > 0 || nginxRun.errors > 0) throw new Error(`figure 6: errors on the Bazel CAS GETs (gateway ${casRun.errors}, nginx ${nginxRun.errors})`);

  const ratio = viaGateway.latencyMs.p50 / directGet.latencyMs.p50;
  return [
    {
      figure: '6',
      what: 'turbo hit, 1 MiB artifact through the gateway, 1 conn: p50',
      value: viaGateway.latencyMs.p50,
      unit: 'ms',
      baseline: { what: 'direct presigned GET of the same object', value: directGet.latencyMs.p50 },
      ratio,
      target: '<= 1.5x',
      met: ratio <= 1.5,
      detail: { gateway: viaGateway, direct: directGet },
    },
    {
      figure: '6',
      what: 'Bazel CAS GET, 4 KiB blob through the gateway, 64 conn, req/s',
      value: casRun.rps,
      unit: 'req/s',
      baseline: { what: 'nginx serving the same 4 KiB file', value: nginxRun.rps },
      ratio: casRun.rps / nginxRun.rps,
      target: '—',
      detail: { gateway: casRun, nginx: nginxRun },
    },
  ];
}

/** A presigned GET of the one object of `size` bytes in the cache bucket (the entry saved above). */
async function presignedUrlOfOnly(ctx: BenchContext, size: number): Promise<string> {
  const listed = await ctx.s3client.send(new ListObjectsV2Command({ Bucket: ctx.gateway.env.CACHE_BUCKET }));
  const objects = (listed.Contents ?? []).filter((o) => o.Size === size);
  if (objects.length !== 1) throw new Error(`expected one ${size}-byte object in the cache bucket, found ${objects.length}`);
  return getSignedUrl(ctx.s3client, new GetObjectCommand({ Bucket: ctx.gateway.env.CACHE_BUCKET, Key: objects[0].Key }), { expiresIn: 3600 });
}
