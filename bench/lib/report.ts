/** The one table the bench prints (markdown, so a run pastes into docs/performance.md) and its JSON. */
import type { Row } from './context';

const fmt = (v: number, unit: Row['unit']) => {
  if (unit === 'req/s') return `${Math.round(v).toLocaleString('en')} req/s`;
  if (unit === 'ms') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
  if (unit === 'MB/s') return `${Math.round(v).toLocaleString('en')} MB/s`;
  if (unit === 'KiB') return `${Math.round(v).toLocaleString('en')} KiB`;
  if (unit === 's') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} s`;
  if (unit === 'µs') return `${v.toFixed(1)} µs`;
  return `${v.toFixed(0)} MiB`;
};

export function table(rows: Row[]): string {
  const lines = ['| # | figure | gateway | baseline (same run) | ratio | target | met |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const baseline = r.baseline ? `${r.baseline.what}: ${fmt(r.baseline.value, r.unit)}` : '—';
    const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : r.baseline ? `${(r.value / r.baseline.value).toFixed(2)}x` : '—';
    const met = r.met === undefined ? '(reference)' : r.met ? 'yes' : '**no**';
    lines.push(`| ${r.figure} | ${r.what} | ${fmt(r.value, r.unit)} | ${baseline} | ${ratio} | ${r.target} | ${met} |`);
  }
  return lines.join('\n');
}

/** The details the table has no room for: where the time and the memory went. */
export function notes(rows: Row[]): string {
  const out: string[] = [];
  const redirect = rows.find((r) => r.figure === '1' && r.unit === 'req/s' && r.detail?.['bareNode']);
  if (redirect) {
    const d = redirect.detail as Record<string, { cpuUsPerRequest: number }>;
    out.push(
      `figure 1, server CPU per request (user + system): gateway ${d.gateway.cpuUsPerRequest} µs, ` +
        `one-middleware Koa ${d.koa.cpuUsPerRequest} µs, bare node:http ${d.bareNode.cpuUsPerRequest} µs, nginx ${d.nginx.cpuUsPerRequest} µs ` +
        `(Koa's CPU over the gateway's: ${(d.koa.cpuUsPerRequest / d.gateway.cpuUsPerRequest).toFixed(2)}x, the req/s ratio on an idle machine)`,
    );
  }
  for (const r of rows.filter((x) => x.detail?.['s3CallsPerLookup'])) {
    const calls = r.detail!['s3CallsPerLookup'] as Record<string, { count: number; ms: number }>;
    const list = Object.entries(calls)
      .map(([op, c]) => `${c.count} ${op} of ${c.ms} ms`)
      .join(', ');
    out.push(`figure 4, ${r.what.replace(/^.*entries, /, '').replace(/: p50$/, '')}: S3 calls per lookup: ${list}`);
  }
  const memory = rows.find((r) => r.figure === '3');
  if (memory?.detail) {
    const d = memory.detail as Record<string, number>;
    out.push(`figure 3: 1 GiB out at ${Math.round(d.outMBps)} MB/s and 1 GiB in at ${Math.round(d.inMBps)} MB/s, at the same time`);
  }
  return out.map((l) => `- ${l}`).join('\n');
}
