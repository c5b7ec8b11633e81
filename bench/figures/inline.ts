/**
 * Figure 2, inline HTML from S3 through the gateway (an active type: streamed on the project's
 * origin) against a direct presigned GET of the same object from radosgw, same connections.
 * The floor: a bare node:http proxy streaming the same presigned GET (bytes through a Node
 * process and nothing else), the most any Node gateway could do on this machine.
 * The three are measured in turn, three rounds of half the figure's seconds each, and each is
 * reported by its median round: on two cores shared with radosgw one long run of each drifted
 * apart by more than the target's margin.
 */
import { download, expectStatus, pattern } from '../lib/http';
import { MiB, originHost, presignedUrlOf, putArtifact, SITE, type BenchContext, type Row } from '../lib/context';
import { startFloor } from '../lib/floor';
import { wrk, type WrkResult } from '../lib/wrk';

const ROUNDS = 3;

/** The round with the median throughput. */
function median(runs: WrkResult[]): WrkResult {
  return [...runs].sort((a, b) => a.throughput - b.throughput)[Math.floor(runs.length / 2)];
}

function mbps(rounds: Record<string, WrkResult[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(rounds).map(([k, runs]) => [k, runs.map((r) => Math.round(r.throughput / 1e6))]));
}

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

    const seconds = Math.max(2, Math.round(ctx.seconds / 2));
    ctx.log(`figure 2: inline HTML ${c.name}, ${c.connections} connections, ${ROUNDS} rounds of ${seconds} s each way`);
    const run = (t: { url: string; host?: string; headers?: Record<string, string> }, s: number) =>
      wrk({ ...t, connections: c.connections, seconds: s, dir: ctx.dir });
    const proxy = await startFloor('proxy');
    const rounds: Record<'direct' | 'gateway' | 'floor', WrkResult[]> = { direct: [], gateway: [], floor: [] };
    try {
      const targets = {
        direct: { url: direct.toString() },
        gateway: viaGateway,
        floor: { url: `http://127.0.0.1:${proxy.port}/`, headers: { 'x-upstream': direct.toString() } },
      };
      for (const t of Object.values(targets)) await run(t, 2); // warm-up
      for (let i = 0; i < ROUNDS; i++) {
        for (const name of ['direct', 'gateway', 'floor'] as const) rounds[name].push(await run(targets[name], seconds));
      }
    } finally {
      await proxy.stop();
    }
    const [base, through, floor] = [median(rounds.direct), median(rounds.gateway), median(rounds.floor)];
    if (
      Object.values(rounds)
        .flat()
        .some((r) => r.errors > 0)
    )
      throw new Error(`figure 2: errors under load`);
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
      detail: { gateway: through, direct: base, floor, roundsMBps: mbps(rounds) },
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
