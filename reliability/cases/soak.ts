/**
 * Soak, both drivers at once (a gateway on each): mixed load (artifact uploads, API redirects,
 * inline reads on the artifact origin, cache saves and restores) at about half of the capacity
 * measured first in the same run (both drivers measured at once, as they then run), for
 * --soak-seconds (default 600). Requests
 * are sent open-loop at a fixed rate, so a slower gateway meets a growing queue instead of a
 * politely waiting client. Expected: zero 5xx, RSS and open descriptors flat (least-squares
 * slope per minute of samples every 2 s, after the first minute; descriptors are judged without
 * the client connections of requests in flight, which are the load itself), p99 steady (first
 * vs last minute), and a sample of what was stored reads back intact.
 */
import { percentile, slope, sleep, sortNumbers } from '../lib/http';
import { descriptors, descriptorsByKind, rssBytes } from '../lib/resources';
import type { Shared } from '../lib/shared';
import type { Driver } from '../lib/services';
import type { CaseContext, CaseRow, ReliabilityCase } from '../lib/types';
import { Clients, type OpKind, type Tally } from '../lib/workload';

const KIB = 1024;
const MIB = 1024 * KIB;
const FILES = 20;
const MAX_IN_FLIGHT = 256;

/** Weights of the mix, per 100 requests. */
const MIX: Array<[OpKind, number]> = [
  ['redirect', 35],
  ['inline', 35],
  ['upload', 12],
  ['save', 6],
  ['restore', 12],
];
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

function pick(): OpKind {
  let x = Math.random() * 100;
  for (const [kind, w] of MIX) if ((x -= w) < 0) return kind;
  return 'redirect';
}

/** One request of the mix; resolves with its wall time (ms) and whether it failed. */
async function one(c: Clients, kind: OpKind, savedKeys: string[]): Promise<number> {
  const t0 = performance.now();
  const files = c.seededFiles();
  switch (kind) {
    case 'redirect':
      await c.redirect(files[rand(0, files.length)]);
      break;
    case 'inline':
      await c.inline(files[rand(0, files.length)]);
      break;
    case 'upload':
      await c.upload(rand(4 * KIB, 32 * KIB));
      break;
    case 'save':
      await c.save(rand(16 * KIB, 64 * KIB));
      break;
    case 'restore':
      await c.restore(savedKeys[rand(0, savedKeys.length)]);
      break;
  }
  return performance.now() - t0;
}

const failuresOf = (t: Record<OpKind, Tally>) => Object.values(t).reduce((a, x) => a + x.gaveUp, 0);
const fiveXx = (t: Record<OpKind, Tally>) => Object.values(t).reduce((a, x) => a + x.attempts['5xx'] + x.attempts['503'] + x.attempts['503-no-retry-after'], 0);

/** Resolves arrive() for everyone once `parties` have arrived: the drivers start each phase together. */
function barrier(parties: number): { arrive(): Promise<void> } {
  let waiting = 0;
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  return {
    arrive() {
      // bounded: a driver that failed before arriving must not hold the other forever
      let timer: NodeJS.Timeout | undefined;
      const mine = Promise.race([
        gate,
        new Promise<void>(
          (_, reject) => (timer = setTimeout(() => reject(new Error('the other driver did not reach the same phase within 5 minutes')), 300_000)),
        ),
      ]).finally(() => clearTimeout(timer));
      if (++waiting === parties) {
        waiting = 0;
        release();
        gate = new Promise<void>((r) => (release = r));
      }
      return mine;
    },
  };
}

async function onDriver(shared: Shared, ctx: CaseContext, driver: Driver, seconds: number, together: { arrive(): Promise<void> }): Promise<CaseRow[]> {
  const quick = ctx.scale === 'quick';
  const project = `rel/soak-${driver}`;
  const gw = await shared.gateway(driver, `soak-${driver}`, { publicProjects: [project] });
  // no retries: every failure shows
  const c = new Clients({ gateway: gw, secret: shared.secret, project, build: '1', opDeadlineMs: 0, attemptTimeoutMs: 30_000, retryWaitMs: 0, slowMs: 1000 });
  for (let i = 0; i < FILES; i++) await c.seedHtml(`page-${i}.html`, 16 * KIB);
  for (let i = 0; i < FILES; i++) await c.save(32 * KIB);
  const savedKeys = c.savedKeys();
  if (savedKeys.length < FILES) throw new Error('seeding cache entries for restores failed');
  c.takeTallies();

  // capacity: 16 closed-loop clients as fast as they go, on both drivers at once (the soak runs both at once too)
  await together.arrive();
  const capSeconds = quick ? 5 : 15;
  ctx.log(`${driver}: capacity, 16 closed-loop clients, ${capSeconds} s`);
  let capDone = 0;
  const capEnd = Date.now() + capSeconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 1_000_000 && Date.now() < capEnd; i++) {
        await one(c, pick(), savedKeys);
        capDone++;
      }
    }),
  );
  const capacity = capDone / capSeconds;
  const capTallies = c.takeTallies();
  const rate = Math.max(1, capacity / 2);
  await sleep(2000);
  const startFds = descriptors(gw.pid);
  const startRss = rssBytes(gw.pid);
  await together.arrive();

  const p50s = MIX.map(([k]) => `${k} ${capTallies[k].ops} p50 ${percentile(sortNumbers(capTallies[k].latencies), 50).toFixed(0)} ms`).join(', ');
  ctx.log(`${driver}: capacity ${capacity.toFixed(0)} req/s (${p50s}); soak at ${rate.toFixed(0)} req/s for ${seconds} s`);
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  const samples: Array<{ s: number; rss: number; fds: number; rest: number }> = [];
  const perMinute: number[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let dropped = 0;
  let sent = 0;
  const running = new Set<Promise<void>>();
  const sampler = setInterval(() => {
    try {
      const d = descriptorsByKind(gw.pid, gw.port);
      samples.push({ s: (Date.now() - t0) / 1000, rss: rssBytes(gw.pid), fds: d.fds, rest: d.rest });
    } catch {
      // the gateway is gone; the rows say so
    }
  }, 2000);
  let lastLog = t0;
  try {
    // open loop: every 10 ms, send what is due at `rate`; never more than MAX_IN_FLIGHT at once
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      while (sent < due) {
        sent++;
        if (inFlight >= MAX_IN_FLIGHT) {
          dropped++;
          continue;
        }
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const minute = Math.floor((Date.now() - t0) / 60_000);
        const p = one(c, pick(), savedKeys).then((ms) => {
          (perMinute[minute] ??= []).push(ms);
        });
        const tracked = p.finally(() => {
          inFlight--;
          running.delete(tracked);
        });
        running.add(tracked);
      }
      if (Date.now() - lastLog > 60_000) {
        lastLog = Date.now();
        const last = samples.at(-1);
        ctx.log(
          `${driver}: soak ${Math.round((Date.now() - t0) / 1000)} s, ${sent} sent, ${inFlight} in flight, RSS ${last ? (last.rss / MIB).toFixed(0) : '?'} MiB, ${last?.fds ?? '?'} fds`,
        );
      }
      await sleep(10);
    }
    await Promise.all(running);
  } finally {
    clearInterval(sampler);
  }
  const soakTallies = c.takeTallies();
  const alive = !gw.exited();
  ctx.log(`${driver}: soak done; reading back a sample of what was stored`);
  const v = await c.verify(400);
  await gw.stop();

  // slopes per minute, after the first minute (the process warms up: JIT, heap, socket pools)
  const warm = seconds >= 180 ? samples.filter((x) => x.s >= 60) : samples;
  const rssSlope = slope(warm.map((x) => [x.s / 60, x.rss / MIB])); // MiB per minute
  const fdSlope = slope(warm.map((x) => [x.s / 60, x.fds]));
  // what a leak would grow: descriptors other than the connections of requests in flight
  const restSlope = slope(warm.map((x) => [x.s / 60, x.rest]));
  const median = (xs: number[]) => percentile(sortNumbers(xs), 50);
  const first = sortNumbers(perMinute[0] ?? []);
  const lastMinute = perMinute.length - 1 - (perMinute.at(-1)!.length < (perMinute[0]?.length ?? 0) / 2 ? 1 : 0);
  const last = sortNumbers(perMinute[Math.max(0, lastMinute)] ?? []);
  const p99First = percentile(first, 99);
  const p99Last = percentile(last, 99);
  const all = Object.values(soakTallies).reduce((a, t) => a + t.ops, 0);
  const errors5xx = fiveXx(soakTallies);
  const failed = failuresOf(soakTallies);
  const noStatus = Object.values(soakTallies).reduce((a, t) => a + t.attempts['no-status'] + t.attempts.cut, 0);
  const corruptAnswers = Object.values(soakTallies).reduce((a, t) => a + t.corrupt, 0);
  const vbad = [v.upload, v.save].reduce((a, x) => a + x.corrupt + x.missing + x.visibleAfterFailure + x.unreadable, 0);
  const vchecked = v.upload.checked + v.save.checked;
  const minutes = (seconds / 60).toFixed(seconds % 60 ? 1 : 0);
  const rssFirst = warm[0]?.rss ?? startRss;
  const rssLast = samples.at(-1)?.rss ?? NaN;

  const loadBad: string[] = [];
  if (errors5xx)
    loadBad.push(
      `${errors5xx} 5xx answers: ${Object.values(soakTallies)
        .flatMap((t) => t.unexpected)
        .slice(0, 3)
        .join(' | ')}`,
    );
  if (failed) loadBad.push(`${failed} requests failed (${noStatus} without a status or cut)`);
  if (corruptAnswers) loadBad.push(`${corruptAnswers} answers carried other bytes or another sha256 than sent`);
  if (vbad) loadBad.push(`read-back: ${[...v.upload.problems, ...v.save.problems].slice(0, 3).join(' | ')}`);
  if (dropped) loadBad.push(`${dropped} requests not sent: ${MAX_IN_FLIGHT} were already in flight (the gateway fell behind)`);
  if (!alive) loadBad.push('the gateway exited');
  const mix = MIX.map(([k]) => `${soakTallies[k].ops} ${k}`).join(', ');
  const rows: CaseRow[] = [
    {
      case: `soak ${minutes} min at half capacity: errors (${driver})`,
      measured: `${all} requests at ${rate.toFixed(0)} req/s (${mix}): ${errors5xx} 5xx, ${failed} failed; read back ${vchecked} sampled entries: ${vchecked - vbad} intact`,
      baseline: `capacity this run: ${capacity.toFixed(0)} req/s (16 closed-loop clients, ${capSeconds} s, the other driver measured at the same time; ${fiveXx(capTallies)} 5xx)`,
      outcome: loadBad.length ? 'fail' : 'pass',
      figures: {
        requests: all,
        rate: Math.round(rate),
        capacity: Math.round(capacity),
        errors5xx,
        failed,
        dropped,
        maxInFlight,
        verified: vchecked,
        verifyProblems: vbad,
      },
      detail: loadBad.length ? loadBad.join('; ') : undefined,
    },
    {
      case: `soak ${minutes} min: RSS and descriptors (${driver})`,
      measured:
        `RSS ${(rssFirst / MIB).toFixed(0)} -> ${(rssLast / MIB).toFixed(0)} MiB, slope ${rssSlope.toFixed(2)} MiB/min; ` +
        `descriptors other than in-flight client connections ${warm[0]?.rest ?? '?'} -> ${samples.at(-1)?.rest ?? '?'} (median ${median(warm.map((x) => x.rest))}), slope ${restSlope.toFixed(2)}/min; ` +
        `all descriptors slope ${fdSlope.toFixed(2)}/min`,
      baseline: `before the soak (after the capacity run): RSS ${(startRss / MIB).toFixed(0)} MiB, ${startFds.fds} fds`,
      outcome: rssSlope <= 2 && restSlope <= 1 && alive ? 'pass' : 'fail',
      figures: {
        rssSlopeMiBPerMin: Math.round(rssSlope * 100) / 100,
        fdSlopePerMin: Math.round(fdSlope * 100) / 100,
        restSlopePerMin: Math.round(restSlope * 100) / 100,
        rssStartMiB: Math.round(startRss / MIB),
        rssEndMiB: Math.round(rssLast / MIB),
        fdsStart: startFds.fds,
        fdsEnd: samples.at(-1)?.fds ?? -1,
        samples: samples.length,
        // every 2 s: seconds, RSS MiB, all descriptors, descriptors other than client connections
        series: samples.map((x) => `${Math.round(x.s)}:${(x.rss / MIB).toFixed(0)}:${x.fds}:${x.rest}`).join(' '),
      },
      detail:
        rssSlope <= 2 && restSlope <= 1
          ? undefined
          : `limits: RSS slope <= 2 MiB/min and slope of descriptors other than client connections <= 1/min, after the first minute`,
    },
    {
      case: `soak ${minutes} min: p99 latency, last minute (${driver})`,
      measured: `last minute: p99 ${p99Last.toFixed(1)} ms, p50 ${percentile(last, 50).toFixed(1)} ms (${last.length} requests)`,
      baseline: `first minute: p99 ${p99First.toFixed(1)} ms, p50 ${percentile(first, 50).toFixed(1)} ms (${first.length} requests)`,
      outcome: p99Last <= 2 * p99First + 10 ? 'pass' : 'fail',
      figures: { p99FirstMs: p99First, p99LastMs: p99Last, p50FirstMs: percentile(first, 50), p50LastMs: percentile(last, 50) },
      detail: p99Last <= 2 * p99First + 10 ? undefined : 'limit: last minute p99 <= 2x the first minute + 10 ms',
    },
  ];
  return rows;
}

export function soakCase(shared: Shared): ReliabilityCase {
  return {
    name: 'soak',
    async run(ctx) {
      // both drivers at once, each at half of the capacity it showed while the other was measured too
      const together = barrier(2);
      const [s3, fs] = await Promise.all([
        onDriver(shared, ctx, 's3', shared.soakSeconds, together),
        onDriver(shared, ctx, 'fs', shared.soakSeconds, together),
      ]);
      return [...s3, ...fs];
    },
  };
}
