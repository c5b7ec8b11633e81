/**
 * Figure 8, zip of a build: the gateway's RSS while it streams `GET …/artifacts?archive=zip` of a
 * build of 10,000 files of 4 KiB, and of a build of one 1 GiB file, from S3, in a freshly started
 * process. Baselines from the same process: idle after a warm-up, and zipping a build of 100 files.
 * Memory must stay flat: the 10,000-file zip may not grow RSS much past the 100-file one.
 */
import { Header } from 'tar';
import { call, download, expectStatus, pattern } from '../lib/http';
import { artifactApiPath, jobToken, MiB, putArtifact, SITE, type BenchContext, type Row } from '../lib/context';
import { memory, sampleRss } from '../lib/proc';

const GiB = 1024 * MiB;

/** An uncompressed tar of `count` files of `size` bytes. */
function tarOf(count: number, size: number): Buffer {
  const blocks: Buffer[] = [];
  const body = pattern(size, 8);
  for (let i = 0; i < count; i++) {
    const h = Buffer.alloc(512);
    new Header({ path: `files/${String(i).padStart(5, '0')}.bin`, type: 'File', size, mode: 0o644, mtime: new Date(0) }).encode(h);
    blocks.push(h, body, Buffer.alloc((512 - (size % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

async function seedBundle(ctx: BenchContext, build: string, count: number): Promise<void> {
  const token = await jobToken(ctx, SITE, build, ['artifacts:write']);
  const tar = tarOf(count, 4096);
  const reply = await call(
    {
      port: ctx.gateway.port,
      host: ctx.gateway.apiHost,
      method: 'POST',
      path: `${artifactApiPath(SITE, build)}?bundle=tar`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar', 'content-length': tar.length },
    },
    tar,
  );
  expectStatus(`bundle of ${count} files`, reply, 201);
}

export async function zipFigure(ctx: BenchContext): Promise<Row[]> {
  ctx.log('figure 8: seeding builds of 100 and 10,000 files of 4 KiB, and one of a 1 GiB file');
  await seedBundle(ctx, 'zip-100', 100);
  await seedBundle(ctx, 'zip-10k', 10_000);
  await putArtifact(ctx, { project: SITE, build: 'zip-1g', path: 'big.bin', size: GiB, contentType: 'application/octet-stream', chunk: pattern(MiB, 9) });

  const gw = await ctx.restartGateway({ logLevel: 'warn' }); // a fresh process: its peaks are this figure's alone
  const token = await jobToken(ctx, SITE, 'any', ['artifacts:read']);
  const zip = async (build: string) => {
    const sampler = sampleRss(gw.pid, 20);
    const got = await download({
      port: gw.port,
      host: gw.apiHost,
      path: `${artifactApiPath(SITE, build)}?archive=zip`,
      headers: { authorization: `Bearer ${token}` },
    });
    const peak = sampler.stop();
    expectStatus(`zip of ${build}`, got, 200);
    return { ...got, peak };
  };
  for (let i = 0; i < 3; i++) await zip('zip-100'); // warm-up
  const idle = memory(gw.pid);
  // the 1 GiB zip first: RSS seldom shrinks, so what came before would count in its peak
  ctx.log('figure 8: zipping 1 GiB, 100 files, 10,000 files');
  const big = await zip('zip-1g');
  const small = await zip('zip-100');
  const many = await zip('zip-10k');
  if (big.bytes < GiB) throw new Error(`figure 8: the zip of 1 GiB has ${big.bytes} bytes`);
  const growth = (many.peak - small.peak) / MiB;
  return [
    {
      figure: '8',
      what: 'peak RSS streaming a zip of 10,000 files of 4 KiB, MiB',
      value: many.peak / MiB,
      unit: 'MiB',
      baseline: { what: 'same process, zip of 100 files', value: small.peak / MiB },
      target: '< 100 MiB above the 100-file zip',
      met: growth < 100,
      detail: { idleRss: idle.rss, peak100: small.peak, peak10k: many.peak, growthMiB: growth, bytes10k: many.bytes, seconds10k: many.seconds },
    },
    {
      figure: '8',
      what: 'peak RSS streaming a zip of one 1 GiB file, MiB',
      value: big.peak / MiB,
      unit: 'MiB',
      baseline: { what: 'same process idle', value: idle.rss / MiB },
      target: '< 150 MiB',
      met: big.peak / MiB < 150,
      detail: { bytes: big.bytes, MBps: big.bytes / big.seconds / 1e6 },
    },
  ];
}
