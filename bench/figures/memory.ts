/**
 * Figure 3, memory: the gateway's peak RSS while it streams a 1 GiB HTML file out (inline, from
 * S3) and takes a 1 GiB upload in (to S3), at the same time, in a freshly started process. The
 * baseline is the same process idle after a short warm-up.
 */
import { download, expectStatus, pattern } from '../lib/http';
import { artifactApiPath, jobToken, MiB, originHost, putArtifact, SITE, type BenchContext, type Row } from '../lib/context';
import { memory, sampleRss } from '../lib/proc';
import { upload } from '../lib/http';

const GiB = 1024 * MiB;

export async function memoryFigure(ctx: BenchContext): Promise<Row[]> {
  const chunk = pattern(MiB, 3);
  ctx.log('figure 3: seeding a 1 GiB HTML file');
  await putArtifact(ctx, { project: SITE, build: '3', path: 'big/report-1g.html', size: GiB, contentType: 'text/html', chunk });
  await putArtifact(ctx, { project: SITE, build: '3', path: 'warm.html', size: MiB, contentType: 'text/html', chunk });

  const gw = await ctx.restartGateway({ logLevel: 'warn' }); // a fresh process: its peak is this figure's alone
  const host = originHost(ctx, SITE);
  for (let i = 0; i < 20; i++) expectStatus('warm-up', await download({ port: gw.port, host, path: '/3/warm.html' }), 200);
  const idle = memory(gw.pid);

  ctx.log('figure 3: streaming 1 GiB out and 1 GiB in at once');
  const sampler = sampleRss(gw.pid, 50);
  const token = await jobToken(ctx, SITE, '3', ['artifacts:write']);
  const [out, into] = await Promise.all([
    download({ port: gw.port, host, path: '/3/big/report-1g.html' }),
    upload(
      {
        port: gw.port,
        host: gw.apiHost,
        path: artifactApiPath(SITE, '3', 'big/upload-1g.bin'),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      },
      GiB,
      chunk,
    ),
  ]);
  const sampled = sampler.stop();
  const after = memory(gw.pid);
  expectStatus('1 GiB out', out, 200);
  expectStatus('1 GiB in', into, 201);
  if (out.bytes !== GiB) throw new Error(`figure 3: streamed ${out.bytes} bytes out, not 1 GiB`);
  const peakMiB = after.peak / MiB;
  return [
    {
      figure: '3',
      what: 'peak RSS streaming 1 GiB out + 1 GiB in at once, MiB',
      value: peakMiB,
      unit: 'MiB',
      baseline: { what: 'same process idle', value: idle.rss / MiB },
      target: '< 150 MiB',
      met: peakMiB < 150,
      detail: {
        idleRss: idle.rss,
        peakRss: after.peak,
        sampledMaxRss: sampled,
        outMBps: out.bytes / out.seconds / 1e6,
        inMBps: GiB / into.seconds / 1e6,
      },
    },
  ];
}
