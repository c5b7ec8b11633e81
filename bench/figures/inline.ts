/**
 * Figure 2, inline HTML from S3 through the gateway (an active type: streamed on the project's
 * origin) against a direct presigned GET of the same object from radosgw, same connections.
 * The floor: a bare node:http proxy streaming the same presigned GET (bytes through a Node
 * process and nothing else), the most any Node gateway could do on this machine.
 */
import { download, expectStatus, pattern } from '../lib/http';
import { MiB, originHost, presignedUrlOf, putArtifact, SITE, type BenchContext, type Row } from '../lib/context';
import { startFloor } from '../lib/floor';
import { wrk } from '../lib/wrk';

const CASES = [
  { name: '1 MiB', path: 'report-1m.html', size: MiB, connections: 8 },
  { name: '100 MiB', path: 'report-100m.html', size: 100 * MiB, connections: 2 },
];

export async function inlineFigure(ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  const chunk = pattern(MiB, 2);
  for (const c of CASES) {
    await putArtifact(ctx, { project: SITE, build: '2', path: c.path, size: c.size, contentType: 'text/html; charset=utf-8', chunk });
    const host = originHost(ctx, SITE);
    const viaGateway = { url: `http://127.0.0.1:${ctx.gateway.port}/2/${c.path}`, host };
    const direct = await presignedUrlOf(ctx, SITE, '2', c.path);
    // both answer the whole file
    const g = await download({ port: ctx.gateway.port, host, path: `/2/${c.path}` });
    const d = await download({ port: Number(direct.port), host: direct.host, path: direct.pathname + direct.search });
    expectStatus(`inline ${c.name} through the gateway`, g, 200);
    expectStatus(`direct presigned GET of ${c.name}`, d, 200);
    if (g.bytes !== c.size || d.bytes !== c.size) throw new Error(`figure 2: got ${g.bytes} and ${d.bytes} bytes, not ${c.size}`);

    ctx.log(`figure 2: inline HTML ${c.name}, ${c.connections} connections, ${ctx.seconds} s each way`);
    const run = (t: { url: string; host?: string; headers?: Record<string, string> }, seconds: number) =>
      wrk({ ...t, connections: c.connections, seconds, dir: ctx.dir });
    await run({ url: direct.toString() }, 2);
    const base = await run({ url: direct.toString() }, ctx.seconds);
    await run(viaGateway, 2);
    const through = await run(viaGateway, ctx.seconds);
    const proxy = await startFloor('proxy');
    let floor;
    try {
      const viaProxy = { url: `http://127.0.0.1:${proxy.port}/`, headers: { 'x-upstream': direct.toString() } };
      await run(viaProxy, 2);
      floor = await run(viaProxy, ctx.seconds);
    } finally {
      await proxy.stop();
    }
    if (base.errors + through.errors + floor.errors > 0) throw new Error(`figure 2: errors under load`);
    const ratio = through.throughput / base.throughput;
    rows.push({
      figure: '2',
      what: `inline HTML ${c.name} from S3 through the gateway, ${c.connections} conn, MB/s`,
      value: through.throughput / 1e6,
      unit: 'MB/s',
      baseline: { what: 'direct presigned GET', value: base.throughput / 1e6 },
      ratio,
      target: '>= 0.8x',
      met: ratio >= 0.8,
      detail: { gateway: through, direct: base, floor },
    });
    rows.push({
      figure: '2',
      what: `floor: bare node:http proxy of the same presigned GET, ${c.name}, MB/s`,
      value: floor.throughput / 1e6,
      unit: 'MB/s',
      baseline: { what: 'direct presigned GET', value: base.throughput / 1e6 },
      ratio: floor.throughput / base.throughput,
      target: '—',
    });
  }
  return rows;
}
