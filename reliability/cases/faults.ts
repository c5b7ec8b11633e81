/**
 * Storage faults, s3 driver, real radosgw, the real built gateway. Clients keep uploading
 * artifacts, reading inline HTML on the artifact origin, saving caches (streamed PUT) and
 * committing direct cache uploads while:
 *  1. radosgw is stopped (SIGTERM) and, some seconds later, started again;
 *  2. radosgw is frozen with SIGSTOP for 30 s, then thawed with SIGCONT;
 *  3. a fault proxy between the gateway and radosgw adds latency, resets connections and
 *     truncates responses.
 * Each scenario has a gateway of its own (fresh buckets, fresh descriptor baseline) and a
 * fault-free warm-up with the same clients first, which is the baseline its rows are judged
 * against. Afterwards every entry a client tried to store is read back (sha256 of the bytes
 * against what was sent; nothing visible for an operation that gave up), recovery is timed from
 * the moment S3 is back (first 200 on /readyz, first complete inline read), and the gateway's
 * descriptors must come back down to the warm-up's.
 */
import { fdText, descriptors, settleTo, type Descriptors } from '../lib/resources';
import { percentile, request, sleep, sortNumbers } from '../lib/http';
import { startFaultProxy } from '../lib/fault-proxy';
import type { Shared } from '../lib/shared';
import type { Gateway } from '../lib/services';
import type { CaseContext, CaseRow, ReliabilityCase } from '../lib/types';
import { Clients, type OpKind, type Tally, type Verification } from '../lib/workload';

const KIB = 1024;
const MIB = 1024 * KIB;
const HTML_FILES = 6;
const OPS: Array<{ kind: OpKind; label: string }> = [
  { kind: 'upload', label: 'artifact uploads' },
  { kind: 'inline', label: 'inline HTML reads' },
  { kind: 'save', label: 'cache saves (streamed PUT)' },
  { kind: 'direct', label: 'direct-upload commits' },
];

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

/** The mixed client load: 2 uploaders, 2 readers, 2 savers, 2 direct uploaders, until stop() says so. */
function startLoad(c: Clients): { stop(): Promise<void> } {
  let stopping = false;
  const loop = (body: () => Promise<void>) =>
    (async () => {
      for (let i = 0; i < 10_000 && !stopping; i++) await body();
    })();
  const files = c.seededFiles();
  // uploads and saves are paced (32 KiB every 10 ms) so that a fault lands in the middle of them
  const paced = { chunkBytes: 32 * KIB, pauseMs: 10 };
  const workers = [
    loop(() => c.upload(rand(256 * KIB, 1 * MIB), paced)),
    loop(() => c.upload(rand(64 * KIB, 512 * KIB), paced)),
    loop(() => c.inline(files[rand(0, files.length)])),
    loop(() => c.inline(files[rand(0, files.length)])),
    loop(() => c.save(rand(256 * KIB, 1 * MIB), paced)),
    loop(() => c.save(rand(64 * KIB, 512 * KIB), paced)),
    loop(() => c.direct(rand(1 * MIB, 7 * MIB))),
    loop(() => c.direct(rand(256 * KIB, 2 * MIB))),
  ];
  return {
    async stop() {
      stopping = true;
      await Promise.all(workers);
    },
  };
}

interface Scenario {
  gw: Gateway;
  clients: Clients;
  baseline: Record<OpKind, Tally>;
  fds: Descriptors;
}

/** How fast a request must be answered while S3 is frozen: S3_RESPONSE_TIMEOUT (5 s) and 1 s. */
const QUICK_MS = 6_000;

async function prepare(shared: Shared, ctx: CaseContext, name: string, s3Endpoint?: string, slowMs = 5_000): Promise<Scenario> {
  const project = `rel/${name}`;
  const gw = await shared.gateway('s3', name, { s3Endpoint, publicProjects: [project] });
  const clients = new Clients({
    gateway: gw,
    secret: shared.secret,
    project,
    build: '1',
    opDeadlineMs: 90_000,
    attemptTimeoutMs: 60_000,
    retryWaitMs: 1_000,
    slowMs,
  });
  for (let i = 0; i < HTML_FILES; i++) await clients.seedHtml(`report-${i}.html`, 1 * MIB);
  const warmSeconds = ctx.scale === 'quick' ? 3 : 6;
  ctx.log(`${name}: warm-up without faults, ${warmSeconds} s (the baseline)`);
  const load = startLoad(clients);
  await sleep(warmSeconds * 1000);
  await load.stop();
  await sleep(1000);
  return { gw, clients, baseline: clients.takeTallies(), fds: descriptors(gw.pid) };
}

/** From `since` (S3 back), the first 200 on /readyz and the first complete inline read. */
async function recovery(s: Scenario, since: number, maxMs = 60_000): Promise<{ readyMs: number; readMs: number }> {
  let readyMs = NaN;
  let readMs = NaN;
  const file = s.clients.seededFiles()[0];
  while (Date.now() - since < maxMs && (Number.isNaN(readyMs) || Number.isNaN(readMs))) {
    const [ready, read] = await Promise.all([
      Number.isNaN(readyMs) ? request({ port: s.gw.port, host: s.gw.apiHost, path: '/readyz', timeoutMs: 5000 }) : undefined,
      Number.isNaN(readMs) ? s.clients.inlineOnce(file, 5000) : undefined,
    ]);
    if (ready?.status === 200 && Number.isNaN(readyMs)) readyMs = Date.now() - since;
    if (read?.status === 200 && !read.cut && Number.isNaN(readMs)) readMs = Date.now() - since;
    await sleep(100);
  }
  return { readyMs, readMs };
}

const p50 = (t: Tally) => percentile(sortNumbers(t.latencies), 50);
const secs = (ms: number) => (Number.isNaN(ms) ? 'never' : `${(ms / 1000).toFixed(1)} s`);

function attemptsText(t: Tally): string {
  const a = t.attempts;
  const parts = [`${a['503']} 503+Retry-After`, `${a['no-status']} no status`, `${a.cut} cut mid-body`, `${a['5xx']} 500/5xx`];
  if (a['503-no-retry-after']) parts.push(`${a['503-no-retry-after']} 503 without Retry-After`);
  if (a['4xx']) parts.push(`${a['4xx']} unexpected 4xx`);
  if (a['part-failed']) parts.push(`${a['part-failed']} part PUTs to S3 failed`);
  return parts.join(', ');
}

/** One row per kind of operation: what clients saw during the fault, and what was read back. */
function opRows(title: string, s: Scenario, fault: Record<OpKind, Tally>, verified: Record<'upload' | 'save' | 'direct', Verification>): CaseRow[] {
  return OPS.map(({ kind, label }) => {
    const t = fault[kind];
    const b = s.baseline[kind];
    const v = kind === 'upload' || kind === 'save' || kind === 'direct' ? verified[kind] : undefined;
    const bad: string[] = [];
    if (t.attempts['5xx']) bad.push(`${t.attempts['5xx']} answers were 500/5xx instead of 503`);
    if (t.attempts['503-no-retry-after']) bad.push(`${t.attempts['503-no-retry-after']} 503s without Retry-After`);
    if (t.corrupt) bad.push(`${t.corrupt} complete 2xx answers carried other bytes or another sha256 than sent`);
    if (t.gaveUp) bad.push(`${t.gaveUp} operations never succeeded within 90 s of retries`);
    if (t.attempts['4xx'])
      bad.push(
        `unexpected 4xx: ${t.unexpected
          .filter((u) => /HTTP 4/.test(u))
          .slice(0, 2)
          .join(' | ')}`,
      );
    if (v && (v.corrupt || v.missing || v.visibleAfterFailure || v.unreadable)) {
      bad.push(
        `read back: ${v.missing} missing, ${v.corrupt} corrupt, ${v.visibleAfterFailure} visible after failure, ${v.unreadable} unreadable: ${v.problems.slice(0, 3).join(' | ')}`,
      );
    }
    const readBack = v
      ? `; read back ${v.checked}: ${v.intact} intact, ${v.corrupt} corrupt, ${v.missing} missing, ${v.visibleAfterFailure} visible after failure`
      : `; ${t.corrupt} corrupt bodies`;
    return {
      case: `${title}: ${label} (s3)`,
      measured: `${t.succeeded}/${t.ops} ok (${t.retried} after retries); attempts: ${attemptsText(t)}${readBack}`,
      baseline: `no fault, same run: ${b.succeeded}/${b.ops} ok, p50 ${p50(b).toFixed(0)} ms`,
      outcome: bad.length ? 'fail' : 'pass',
      figures: {
        ops: t.ops,
        succeeded: t.succeeded,
        retried: t.retried,
        gaveUp: t.gaveUp,
        corrupt: t.corrupt,
        ...Object.fromEntries(Object.entries(t.attempts).map(([k, n]) => [`attempts_${k}`, n])),
        p50Ms: Math.round(p50(t)),
        maxMs: Math.round(Math.max(0, ...t.latencies)),
        baselineOps: b.ops,
        baselineP50Ms: Math.round(p50(b)),
        ...(v ? { verified: v.checked, intact: v.intact, missing: v.missing, verifyCorrupt: v.corrupt, visibleAfterFailure: v.visibleAfterFailure } : {}),
      },
      detail: bad.length ? bad.join('; ') : undefined,
    };
  });
}

async function descriptorRow(title: string, s: Scenario, rec?: { readyMs: number; readMs: number }): Promise<CaseRow> {
  const settle = await settleTo(s.gw.pid, s.fds, 90_000);
  const exited = s.gw.exited();
  await s.gw.stop();
  const recovered = !rec || (!Number.isNaN(rec.readyMs) && !Number.isNaN(rec.readMs));
  const recText = rec ? `readyz 200 ${secs(rec.readyMs)} and first inline read 200 ${secs(rec.readMs)} after S3 was back; ` : '';
  const bad: string[] = [];
  if (!recovered) bad.push('the gateway did not recover within 60 s of S3 being back');
  if (!settle.settled) bad.push(`descriptors stayed above the warm-up's for 90 s: ${fdText(settle.after)} vs ${fdText(s.fds)}`);
  if (exited) bad.push('the gateway process exited during the scenario');
  return {
    case: `${title}: ${rec ? 'recovery and ' : ''}descriptors (s3)`,
    measured: `${recText}${fdText(settle.after)} after (settled in ${secs(settle.ms)})`,
    baseline: `after the warm-up: ${fdText(s.fds)}`,
    outcome: bad.length ? 'fail' : 'pass',
    figures: {
      ...(rec ? { readyMs: rec.readyMs, readMs: rec.readMs } : {}),
      fdsAfter: settle.after.fds,
      socketsAfter: settle.after.sockets,
      fdsBefore: s.fds.fds,
      socketsBefore: s.fds.sockets,
      settleMs: settle.ms,
    },
    detail: bad.length ? bad.join('; ') : undefined,
  };
}

/** A scenario's rows, and its descriptor row, which waits for pooled sockets to close while the next scenario runs. */
type Result = { rows: CaseRow[]; later: Promise<CaseRow> };

async function stopRestart(shared: Shared, ctx: CaseContext): Promise<Result> {
  const title = 'radosgw stopped 8 s, restarted';
  const rgw = await shared.radosgw();
  const s = await prepare(shared, ctx, 'stop-restart');
  ctx.log(`${title}: load on, radosgw stopped in 3 s`);
  const load = startLoad(s.clients);
  await sleep(3000);
  await rgw.stopRgw();
  ctx.log(`${title}: radosgw down`);
  await sleep(8000);
  const restarting = rgw.startRgw();
  // S3 is back at its first HTTP answer (polled here; the script polls too, more coarsely)
  let backAt = NaN;
  for (let i = 0; i < 1200 && Number.isNaN(backAt); i++) {
    const o = await request({ port: rgw.port, host: `127.0.0.1:${rgw.port}`, path: '/', timeoutMs: 1000 });
    if (o.status) backAt = Date.now();
    else await sleep(50);
  }
  await restarting;
  const rec = await recovery(s, backAt);
  ctx.log(`${title}: S3 back; readyz after ${secs(rec.readyMs)}, inline read after ${secs(rec.readMs)}`);
  await sleep(3000);
  await load.stop();
  const fault = s.clients.takeTallies();
  const verified = await s.clients.verify();
  return { rows: opRows(title, s, fault, verified), later: descriptorRow(title, s, rec) };
}

async function freeze(shared: Shared, ctx: CaseContext): Promise<Result> {
  const title = 'radosgw frozen 30 s (SIGSTOP)';
  const rgw = await shared.radosgw();
  const s = await prepare(shared, ctx, 'sigstop');
  // what a fresh request costs with S3 healthy: the probes' own baseline
  const healthy: number[] = [];
  const file = s.clients.seededFiles()[1];
  for (let i = 0; i < 10; i++) healthy.push((await s.clients.inlineOnce(file, 10_000)).ms);
  const ready0 = await request({ port: s.gw.port, host: s.gw.apiHost, path: '/readyz', timeoutMs: 10_000 });
  ctx.log(`${title}: load on, SIGSTOP in 3 s`);
  const load = startLoad(s.clients);
  await sleep(3000);
  const pid = rgw.rgwPid();
  process.kill(pid, 'SIGSTOP');
  const frozenAt = Date.now();
  // one fresh inline read and one /readyz every second while frozen: how fast does the gateway answer?
  const probes: Array<Promise<{ ms: number; status: number; what: string }>> = [];
  try {
    for (let i = 0; i < 28; i++) {
      probes.push(s.clients.inlineOnce(file, 45_000).then((o) => ({ ms: o.ms, status: o.status, what: 'inline' })));
      probes.push(
        request({ port: s.gw.port, host: s.gw.apiHost, path: '/readyz', timeoutMs: 45_000 }).then((o) => ({ ms: o.ms, status: o.status, what: 'readyz' })),
      );
      await sleep(1000);
    }
    await sleep(Math.max(0, 30_000 - (Date.now() - frozenAt)));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const thawedAt = Date.now();
  ctx.log(`${title}: SIGCONT`);
  const rec = await recovery(s, thawedAt);
  await sleep(3000);
  await load.stop();
  const done = await Promise.all(probes);
  const fault = s.clients.takeTallies();
  const verified = await s.clients.verify();

  const inline = done.filter((p) => p.what === 'inline');
  const ready = done.filter((p) => p.what === 'readyz');
  const sortedInline = sortNumbers(inline.map((p) => p.ms));
  // the gateway waits S3_RESPONSE_TIMEOUT (5 s by default) for a frozen S3, then answers 503:
  // "quick" is that bound and one second for the rest of the request
  const quick = inline.filter((p) => p.ms <= QUICK_MS).length;
  const statuses = (ps: typeof done) => {
    const m = new Map<number, number>();
    for (const p of ps) m.set(p.status, (m.get(p.status) ?? 0) + 1);
    return [...m].map(([st, n]) => `${n}x ${st || 'no status'}`).join(', ');
  };
  const readyMax = Math.max(...ready.map((p) => p.ms));
  const slowOps = OPS.map(({ kind }) => fault[kind].slow).reduce((a, b) => a + b, 0);
  const answerRow: CaseRow = {
    case: `${title}: time to answer while frozen (s3)`,
    measured:
      `fresh inline reads, one a second: p50 ${(percentile(sortedInline, 50) / 1000).toFixed(1)} s, max ${(sortedInline.at(-1)! / 1000).toFixed(1)} s, ` +
      `${quick}/${inline.length} answered within ${QUICK_MS / 1000} s (${statuses(inline)}); /readyz: max ${(readyMax / 1000).toFixed(1)} s (${statuses(ready)}); ` +
      `${slowOps} client attempts took over 5 s`,
    baseline: `not frozen: inline read p50 ${percentile(sortNumbers(healthy), 50).toFixed(0)} ms, /readyz ${ready0.status} in ${ready0.ms.toFixed(0)} ms`,
    outcome: quick === inline.length && readyMax <= QUICK_MS ? 'pass' : 'fail',
    figures: {
      probes: inline.length,
      answeredQuickly: quick,
      p50Ms: Math.round(percentile(sortedInline, 50)),
      maxMs: Math.round(sortedInline.at(-1)!),
      readyzMaxMs: Math.round(readyMax),
      slowClientAttempts: slowOps,
      healthyP50Ms: Math.round(percentile(sortNumbers(healthy), 50)),
    },
    detail:
      quick === inline.length
        ? undefined
        : `while radosgw is frozen the gateway does not answer 503 quickly: requests wait for S3 (${inline.length - quick} of ${inline.length} probes took over ${QUICK_MS / 1000} s)`,
  };
  return { rows: [...opRows(title, s, fault, verified), answerRow], later: descriptorRow(title, s, rec) };
}

async function proxied(shared: Shared, ctx: CaseContext): Promise<Result> {
  const rgw = await shared.radosgw();
  const proxy = await startFaultProxy(rgw.port);
  shared.onStop(() => proxy.stop());
  const s = await prepare(shared, ctx, 'proxy', `http://127.0.0.1:${proxy.port}`);
  const phase = ctx.scale === 'quick' ? 5 : 12;
  const modes = [
    { title: 'fault proxy: +200 ms latency each way', faults: { latencyMs: 200 } },
    { title: 'fault proxy: 25% of S3 connections reset', faults: { resetRate: 0.25 } },
    { title: 'fault proxy: 25% of S3 responses truncated', faults: { truncateRate: 0.25 } },
  ];
  const rows: CaseRow[] = [];
  const perMode: Array<{ title: string; tallies: Record<OpKind, Tally>; counts: string }> = [];
  for (const m of modes) {
    ctx.log(`${m.title}: ${phase} s`);
    const before = { ...proxy.counts };
    proxy.set({ latencyMs: 0, resetRate: 0, truncateRate: 0, ...m.faults });
    const load = startLoad(s.clients);
    await sleep(phase * 1000);
    proxy.set({ latencyMs: 0, resetRate: 0, truncateRate: 0 });
    await load.stop();
    const counts = `${proxy.counts.connections - before.connections} S3 connections, ${proxy.counts.resets - before.resets} reset, ${proxy.counts.truncations - before.truncations} truncated`;
    perMode.push({ title: m.title, tallies: s.clients.takeTallies(), counts });
  }
  // one read-back for everything the three phases stored
  const verified = await s.clients.verify();
  for (const m of perMode) {
    const kinds = OPS.map((o) => o.kind);
    const sum = (f: (t: Tally) => number) => kinds.reduce((a, k) => a + f(m.tallies[k]), 0);
    const bad: string[] = [];
    const e5 = sum((t) => t.attempts['5xx']);
    const noRa = sum((t) => t.attempts['503-no-retry-after']);
    const corrupt = sum((t) => t.corrupt);
    const gaveUp = sum((t) => t.gaveUp);
    if (e5)
      bad.push(
        `${e5} answers were 500/5xx instead of 503: ${kinds
          .flatMap((k) => m.tallies[k].unexpected)
          .slice(0, 3)
          .join(' | ')}`,
      );
    if (noRa) bad.push(`${noRa} 503s without Retry-After`);
    if (corrupt) bad.push(`${corrupt} complete 2xx answers with other bytes or sha256`);
    if (gaveUp) bad.push(`${gaveUp} operations never succeeded`);
    const unexpected4xx = sum((t) => t.attempts['4xx']);
    if (unexpected4xx)
      bad.push(
        `unexpected 4xx: ${kinds
          .flatMap((k) => m.tallies[k].unexpected)
          .filter((u) => /HTTP 4/.test(u))
          .slice(0, 2)
          .join(' | ')}`,
      );
    const per = OPS.map(({ kind }) => `${kind} ${m.tallies[kind].succeeded}/${m.tallies[kind].ops} p50 ${p50(m.tallies[kind]).toFixed(0)} ms`).join(', ');
    const answers = `${sum((t) => t.attempts['503'])} 503+Retry-After, ${sum((t) => t.attempts['no-status'])} no status, ${sum((t) => t.attempts.cut)} cut mid-body, ${e5} 500/5xx`;
    const base = OPS.map(({ kind }) => `${kind} ${s.baseline[kind].succeeded}/${s.baseline[kind].ops} p50 ${p50(s.baseline[kind]).toFixed(0)} ms`).join(', ');
    rows.push({
      case: `${m.title} (s3)`,
      measured: `${per}; attempts: ${answers}; ${m.counts}`,
      baseline: `no fault, same run: ${base}`,
      outcome: bad.length ? 'fail' : 'pass',
      figures: Object.fromEntries(
        OPS.flatMap(({ kind }) => [
          [`${kind}_ops`, m.tallies[kind].ops],
          [`${kind}_ok`, m.tallies[kind].succeeded],
          [`${kind}_p50Ms`, Math.round(p50(m.tallies[kind]))],
          [`${kind}_503`, m.tallies[kind].attempts['503']],
          [`${kind}_5xx`, m.tallies[kind].attempts['5xx']],
          [`${kind}_noStatus`, m.tallies[kind].attempts['no-status']],
          [`${kind}_cut`, m.tallies[kind].attempts.cut],
        ]),
      ),
      detail: bad.length ? bad.join('; ') : undefined,
    });
  }
  const v = [verified.upload, verified.save, verified.direct];
  const vsum = (f: (x: Verification) => number) => v.reduce((a, x) => a + f(x), 0);
  const problems = v.flatMap((x) => x.problems);
  const vbad = vsum((x) => x.corrupt + x.missing + x.visibleAfterFailure + x.unreadable);
  rows.push({
    case: 'fault proxy: every entry read back after the three phases (s3)',
    measured: `${vsum((x) => x.checked)} checked: ${vsum((x) => x.intact)} intact, ${vsum((x) => x.corrupt)} corrupt, ${vsum((x) => x.missing)} missing, ${vsum((x) => x.visibleAfterFailure)} visible after failure`,
    baseline: `uploads ${verified.upload.checked}, cache saves ${verified.save.checked}, direct uploads ${verified.direct.checked} sent`,
    outcome: vbad ? 'fail' : 'pass',
    figures: {
      checked: vsum((x) => x.checked),
      intact: vsum((x) => x.intact),
      corrupt: vsum((x) => x.corrupt),
      missing: vsum((x) => x.missing),
      visibleAfterFailure: vsum((x) => x.visibleAfterFailure),
    },
    detail: vbad ? problems.slice(0, 5).join(' | ') : undefined,
  });
  return { rows, later: descriptorRow('fault proxy', s) };
}

export function faultsCase(shared: Shared): ReliabilityCase {
  return {
    name: 'faults',
    async run(ctx) {
      const results: Result[] = [];
      for (const scenario of [stopRestart, freeze, proxied]) {
        const r = await scenario(shared, ctx);
        // keep a failed check from going unhandled while the next scenario runs
        r.later.catch(() => undefined);
        results.push(r);
      }
      ctx.log("waiting for the gateways' pooled S3 connections to close (descriptor checks)");
      const rows: CaseRow[] = [];
      for (const r of results) rows.push(...r.rows, await r.later);
      return rows;
    },
  };
}
