/**
 * Figure 4, cache restore lookup with 10,000 entries in the project, all in the scope the job
 * restores from: the first key misses, and the lookup falls back to the keys as prefixes
 * (newest match wins). Two prefixes: one that matches 100 entries (one cache family among
 * others) and one that matches 9,900 (every entry a candidate). The baseline is an exact-key hit
 * in the same project: one entry read, the floor of any lookup. p50 of sequential lookups.
 */
import { Agent, request } from 'node:http';
import { call, expectStatus, mapLimit } from '../lib/http';
import { jobToken, type BenchContext, type Row } from '../lib/context';
import { wrk } from '../lib/wrk';

const PROJECT = 'bench/cache';
const ENTRIES = 10_000;
const FEW = 100;

const hex = (i: number) => i.toString(16).padStart(8, '0');

export async function cacheFigure(ctx: BenchContext): Promise<Row[]> {
  const token = await jobToken(ctx, PROJECT, '1', ['cache:read', 'cache:write']);
  const base = `/api/v1/projects/${encodeURIComponent(PROJECT)}/caches`;
  const keys = Array.from({ length: ENTRIES }, (_, i) => (i < FEW ? `npm-linux-${hex(i)}` : `build-linux-${hex(i)}`));
  ctx.log(`figure 4: saving ${ENTRIES} cache entries through the API`);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const body = Buffer.alloc(64, 7);
  const started = Date.now();
  await mapLimit(
    keys,
    16,
    (key) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: ctx.gateway.port,
            method: 'PUT',
            path: `${base}/${encodeURIComponent(key)}`,
            headers: { host: ctx.gateway.apiHost, authorization: `Bearer ${token}`, 'content-length': body.length },
            agent,
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`saving ${key}: HTTP ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
  );
  agent.destroy();
  ctx.log(`figure 4: saved in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const lookups = [
    { name: 'exact-key hit', query: `keys=${keys[0]}`, exact: true },
    { name: `prefix fallback, prefix matches ${FEW}`, query: `keys=npm-linux-ffffffff,npm-linux-`, exact: false },
    { name: `prefix fallback, prefix matches ${ENTRIES - FEW}`, query: `keys=build-linux-ffffffff,build-linux-`, exact: false },
  ];
  const results = [];
  const calls: Array<Record<string, { count: number; ms: number }>> = [];
  for (const l of lookups) {
    const path = `${base}?${l.query}`;
    const reply = await call({ port: ctx.gateway.port, host: ctx.gateway.apiHost, path, headers: { authorization: `Bearer ${token}` } });
    expectStatus(`restore ${l.name}`, reply, 200);
    if ((JSON.parse(reply.body.toString('utf8')) as { exact: boolean }).exact !== l.exact) throw new Error(`restore ${l.name}: unexpected match`);
    ctx.log(`figure 4: ${l.name}, 1 connection, ${ctx.seconds} s`);
    const before = await storageOps(ctx);
    const r = await wrk({
      url: `http://127.0.0.1:${ctx.gateway.port}${path}`,
      host: ctx.gateway.apiHost,
      headers: { authorization: `Bearer ${token}` },
      connections: 1,
      seconds: ctx.seconds,
      dir: ctx.dir,
    });
    if (r.errors > 0) throw new Error(`figure 4: ${r.errors} errors in ${l.name}`);
    results.push(r);
    // what each lookup asked of S3, from the gateway's own metrics: calls per lookup, ms per call
    const after = await storageOps(ctx);
    const perLookup: Record<string, { count: number; ms: number }> = {};
    for (const [op, a] of Object.entries(after)) {
      const b = before[op] ?? { count: 0, seconds: 0 };
      const n = a.count - b.count;
      if (n > 0) perLookup[op] = { count: Math.round((n / r.requests) * 100) / 100, ms: Math.round(((a.seconds - b.seconds) / n) * 1e5) / 100 };
    }
    calls.push(perLookup);
  }
  const [exact, few, all] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
  const row = (what: string, r: typeof exact, s3: Record<string, { count: number; ms: number }>): Row => ({
    figure: '4',
    what: `cache restore, ${ENTRIES.toLocaleString('en')} entries, ${what}: p50`,
    value: r.latencyMs.p50,
    unit: 'ms',
    baseline: { what: 'exact-key hit, same project', value: exact.latencyMs.p50 },
    target: '< 20 ms',
    met: r.latencyMs.p50 < 20,
    detail: { lookup: r, exact, s3CallsPerLookup: s3 },
  });
  return [row(lookups[1].name, few, calls[1]), row(lookups[2].name, all, calls[2])];
}

/** Storage operations so far, from /metrics: count and total seconds by operation. */
async function storageOps(ctx: BenchContext): Promise<Record<string, { count: number; seconds: number }>> {
  const reply = await call({ port: ctx.gateway.port, host: ctx.gateway.apiHost, path: '/metrics' });
  expectStatus('GET /metrics', reply, 200);
  const ops: Record<string, { count: number; seconds: number }> = {};
  const line = /^agw_storage_operation_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/gm;
  for (const m of reply.body.toString('utf8').matchAll(line)) {
    const op = /operation="([^"]+)"/.exec(m[2])?.[1] ?? '?';
    const entry = (ops[op] ??= { count: 0, seconds: 0 });
    if (m[1] === 'count') entry.count += Number(m[3]);
    else entry.seconds += Number(m[3]);
  }
  return ops;
}
