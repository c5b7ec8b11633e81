/**
 * Figure 5, upload throughput: a 256 MiB artifact PUT through the gateway's API (hashed and
 * streamed to S3 in multipart parts) against a direct presigned PUT of the same size to radosgw,
 * one upload at a time, alternating, median of five each. The floor: the same PUT through a bare
 * node:http proxy (bytes through a Node process and nothing else). The objects are deleted
 * afterwards.
 */
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { expectStatus, pattern, upload } from '../lib/http';
import { artifactApiPath, jobToken, MiB, type BenchContext, type Row } from '../lib/context';
import { startFloor } from '../lib/floor';

const PROJECT = 'bench/upload';
const SIZE = 256 * MiB;
const RUNS = 5;
const BUCKET = 'agw-bench-artifacts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function uploadFigure(ctx: BenchContext): Promise<Row[]> {
  const chunk = pattern(MiB, 5);
  const token = await jobToken(ctx, PROJECT, '5', ['artifacts:write']);
  const direct: number[] = [];
  const through: number[] = [];
  const floor: number[] = [];
  const presignedPut = async (key: string) => new URL(await getSignedUrl(ctx.s3client, new PutObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 900 }));
  ctx.log(`figure 5: ${RUNS} uploads of 256 MiB each way, and through a bare node:http proxy`);
  const proxy = await startFloor('proxy');
  try {
    for (let i = 0; i < RUNS; i++) {
      const url = await presignedPut(`bench-direct/run-${i}.bin`);
      const d = await upload({ port: Number(url.port), host: url.host, path: url.pathname + url.search }, SIZE, chunk);
      expectStatus('direct presigned PUT', d, 200);
      direct.push(SIZE / d.seconds);
      const viaProxy = await presignedPut(`bench-direct/proxy-${i}.bin`);
      const p = await upload({ port: proxy.port, host: 'proxy', path: '/', headers: { 'x-upstream': viaProxy.toString() } }, SIZE, chunk);
      expectStatus('PUT through the bare proxy', p, 200);
      floor.push(SIZE / p.seconds);
      const g = await upload(
        {
          port: ctx.gateway.port,
          host: ctx.gateway.apiHost,
          path: artifactApiPath(PROJECT, '5', `run-${i}.bin`),
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        },
        SIZE,
        chunk,
      );
      expectStatus('upload through the gateway', g, 201);
      through.push(SIZE / g.seconds);
    }
  } finally {
    await proxy.stop();
    await removePrefix(ctx, 'bench-direct/');
    await removePrefix(ctx, `p/${encodeURIComponent(PROJECT)}/`);
  }
  const ratio = median(through) / median(direct);
  return [
    {
      figure: '5',
      what: 'upload 256 MiB through the gateway, 1 stream, MB/s',
      value: median(through) / 1e6,
      unit: 'MB/s',
      baseline: { what: 'direct presigned PUT', value: median(direct) / 1e6 },
      ratio,
      target: '>= 0.7x',
      met: ratio >= 0.7,
      detail: { gatewayMBps: through.map((x) => x / 1e6), directMBps: direct.map((x) => x / 1e6), floorMBps: floor.map((x) => x / 1e6) },
    },
    {
      figure: '5',
      what: 'floor: the same PUT through a bare node:http proxy, MB/s',
      value: median(floor) / 1e6,
      unit: 'MB/s',
      baseline: { what: 'direct presigned PUT', value: median(direct) / 1e6 },
      ratio: median(floor) / median(direct),
      target: '—',
    },
  ];
}

async function removePrefix(ctx: BenchContext, prefix: string): Promise<void> {
  const page = await ctx.s3client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  for (const o of page.Contents ?? []) await ctx.s3client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key! }));
}
