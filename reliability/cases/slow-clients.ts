/**
 * Slow clients, both drivers. Four normal clients keep reading inline HTML on the artifact
 * origin, asking the API for download redirects and uploading small artifacts; first alone (the
 * baseline), then while hundreds of slow connections hold the gateway:
 *  - slow headers: a request line, then one header line every 2 s, never the blank line;
 *  - slow bodies: authenticated artifact uploads that declare 1 MiB and send 1 KiB a second
 *    (each holds a storage write open: an S3 PutObject stream, or a temp file on fs);
 *  - slow readers: GETs of an 8 MiB inline HTML file that read one chunk a second.
 * Connections the gateway closes are opened again until the attack ends. Reported: the normal
 * clients' p50/p99 with and without the attack, failures, how long the gateway let slow-header
 * connections live, and that descriptors come back down afterwards; the attack's uploads must
 * leave nothing visible.
 */
import net from 'node:net';
import { percentile, request, sleep, sortNumbers } from '../lib/http';
import { descriptors, fdText, rssBytes, settleTo } from '../lib/resources';
import type { Shared } from '../lib/shared';
import type { Driver, Gateway } from '../lib/services';
import type { CaseContext, CaseRow, ReliabilityCase } from '../lib/types';
import { Clients, classify } from '../lib/workload';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Fresh paths for the normal clients' uploads across phases. */
let uploadSeq = 0;

interface Normal {
  latencies: number[];
  failures: string[];
  ops: number;
}

/** Four normal clients until stop(): inline read, redirect, and a 16 KiB upload every fifth round. */
function normalClients(c: Clients, small: string, png: string): { stop(): Promise<Normal> } {
  const out: Normal = { latencies: [], failures: [], ops: 0 };
  let stopping = false;
  const one = async (what: string, run: () => Promise<{ ms: number; ok: boolean; status: number; error?: string }>) => {
    const r = await run();
    out.ops++;
    out.latencies.push(r.ms);
    if (!r.ok && out.failures.length < 1000) out.failures.push(`${what}: ${r.status || r.error}`);
  };
  const loop = async () => {
    const read = await c.token(['artifacts:read']);
    const write = await c.token(['artifacts:write']);
    for (let i = 0; i < 100_000 && !stopping; i++) {
      await one('inline', async () => {
        const o = await c.inlineOnce(small, 30_000);
        return { ms: o.ms, ok: classify(o, [200]) === 'ok', status: o.status, error: o.error };
      });
      await one('redirect', async () => {
        const o = await request({
          port: c.o.gateway.port,
          host: c.o.gateway.apiHost,
          path: c.artifactPath(png),
          headers: { authorization: `Bearer ${read}` },
          timeoutMs: 30_000,
        });
        return { ms: o.ms, ok: o.status === 302, status: o.status, error: o.error };
      });
      if (i % 5 === 4) {
        await one('upload', async () => {
          const n = uploadSeq++;
          const o = await request(
            {
              port: c.o.gateway.port,
              host: c.o.gateway.apiHost,
              method: 'PUT',
              path: c.artifactPath(`normal/${n}.bin`),
              headers: { authorization: `Bearer ${write}` },
              timeoutMs: 30_000,
            },
            { body: Buffer.alloc(16 * KIB, n) },
          );
          return { ms: o.ms, ok: o.status === 201 || o.status === 200, status: o.status, error: o.error };
        });
      }
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return out;
    },
  };
}

interface Attack {
  /** Connections open right now, by kind. */
  open: Record<'header' | 'body' | 'read', number>;
  opened: number;
  /** How long slow-header connections lived before the gateway closed them. */
  headerLifetimes: number[];
  stop(): void;
}

function startAttack(gw: Gateway, c: Clients, n: number, token: string, big: string, uploadPath: (n: number) => string): Attack {
  const a: Attack = { open: { header: 0, body: 0, read: 0 }, opened: 0, headerLifetimes: [], stop: () => undefined };
  let stopping = false;
  const sockets = new Set<net.Socket>();
  let seq = 0;
  const keep = (kind: keyof Attack['open'], open: () => net.Socket) => {
    if (stopping) return;
    a.opened++;
    a.open[kind]++;
    const s = open();
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => {
      sockets.delete(s);
      a.open[kind]--;
      // the gateway closed it: open another while the attack lasts (bounded by the attack's time)
      if (!stopping) setTimeout(() => keep(kind, open), 200);
    });
  };
  const connect = () => net.connect(gw.port, '127.0.0.1');
  const slowHeader = () => {
    const s = connect();
    const t0 = Date.now();
    s.write(`GET /healthz HTTP/1.1\r\nHost: ${gw.apiHost}\r\n`);
    const timer = setInterval(() => s.write(`X-Slow-${Math.floor(Math.random() * 1e6)}: 1\r\n`), 2000);
    s.resume();
    s.once('close', () => {
      clearInterval(timer);
      if (!stopping) a.headerLifetimes.push(Date.now() - t0);
    });
    return s;
  };
  const slowBody = () => {
    const s = connect();
    const path = uploadPath(seq++);
    s.write(`PUT ${path} HTTP/1.1\r\nHost: ${gw.apiHost}\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${MIB}\r\n\r\n`);
    const timer = setInterval(() => s.write(Buffer.alloc(KIB, 7)), 1000);
    s.resume();
    s.once('close', () => clearInterval(timer));
    return s;
  };
  const slowRead = () => {
    const s = connect();
    s.write(`GET /${encodeURIComponent(c.o.build)}/${big} HTTP/1.1\r\nHost: ${c.label}.localhost:${gw.port}\r\nAccept: text/html\r\n\r\n`);
    // one chunk a second
    s.on('data', () => {
      s.pause();
      setTimeout(() => !s.destroyed && s.resume(), 1000);
    });
    return s;
  };
  // ramp up over about two seconds
  void (async () => {
    for (let i = 0; i < n && !stopping; i++) {
      keep('header', slowHeader);
      keep('body', slowBody);
      keep('read', slowRead);
      if (i % 10 === 9) await sleep(150);
    }
  })();
  a.stop = () => {
    stopping = true;
    for (const s of sockets) s.destroy();
  };
  return a;
}

/**
 * Runs one driver's attack; resolves when the attack is over, with its rows still to come: they
 * wait for the gateway's descriptors to settle (pooled S3 connections close after about a
 * minute), which overlaps the next driver's run.
 */
async function onDriver(shared: Shared, ctx: CaseContext, driver: Driver): Promise<{ later: Promise<CaseRow[]> }> {
  const quick = ctx.scale === 'quick';
  const project = `rel/slow-${driver}`;
  const gw = await shared.gateway(driver, `slow-${driver}`, { publicProjects: [project] });
  const c = new Clients({
    gateway: gw,
    secret: shared.secret,
    project,
    build: '1',
    opDeadlineMs: 30_000,
    attemptTimeoutMs: 30_000,
    retryWaitMs: 1000,
    slowMs: 5000,
  });
  await c.seedHtml('small.html', 16 * KIB);
  await c.seedHtml('big.html', 8 * MIB);
  {
    const token = await c.token(['artifacts:write']);
    const o = await request(
      { port: gw.port, host: gw.apiHost, method: 'PUT', path: c.artifactPath('pic.png'), headers: { authorization: `Bearer ${token}` } },
      { body: Buffer.alloc(4 * KIB, 1) },
    );
    if (o.status !== 201) throw new Error(`seeding pic.png: HTTP ${o.status}`);
  }
  const n = quick ? 40 : 150;
  const phase = quick ? 6 : 20;

  ctx.log(`${driver}: normal clients alone, ${phase} s`);
  const warm = normalClients(c, 'small.html', 'pic.png');
  await sleep(2000);
  await warm.stop();
  await sleep(1000);
  const idle = descriptors(gw.pid);
  const rssIdle = rssBytes(gw.pid);
  const base = normalClients(c, 'small.html', 'pic.png');
  await sleep(phase * 1000);
  const without = await base.stop();

  ctx.log(`${driver}: ${n} slow-header + ${n} slow-body + ${n} slow-reading connections, normal clients for ${phase} s`);
  const attackBuild = new Clients({ ...c.o, build: 'attack' });
  const attack = startAttack(gw, c, n, await attackBuild.token(['artifacts:write']), 'big.html', (i) => attackBuild.artifactPath(`slow/${i}.bin`));
  await sleep(4000);
  const under = normalClients(c, 'small.html', 'pic.png');
  let peakOpen = 0;
  let peakFds = 0;
  let peakRss = 0;
  for (let t = 0; t < phase; t++) {
    await sleep(1000);
    peakOpen = Math.max(peakOpen, attack.open.header + attack.open.body + attack.open.read);
    const d = descriptors(gw.pid);
    peakFds = Math.max(peakFds, d.fds);
    peakRss = Math.max(peakRss, rssBytes(gw.pid));
  }
  const withAttack = await under.stop();
  const openAtEnd = { ...attack.open };
  attack.stop();
  ctx.log(`${driver}: attack over; ${attack.opened} attack connections opened, ${peakOpen} open at most`);

  // the attack's uploads were never finished: nothing of them may be visible
  const readToken = await attackBuild.token(['artifacts:read']);
  const listing = await request({
    port: gw.port,
    host: gw.apiHost,
    path: attackBuild.artifactPath('').slice(0, -1),
    headers: { authorization: `Bearer ${readToken}` },
    timeoutMs: 30_000,
  });
  const visible = listing.status === 200 ? (JSON.parse(listing.body.toString('utf8')) as { items: unknown[] }).items.length : -1;
  const later = (async (): Promise<CaseRow[]> => {
    const settle = await settleTo(gw.pid, idle, 90_000);
    const gatewayAlive = !gw.exited();
    await gw.stop();

    const ws = sortNumbers(without.latencies);
    const us = sortNumbers(withAttack.latencies);
    const [b50, b99, u50, u99] = [percentile(ws, 50), percentile(ws, 99), percentile(us, 50), percentile(us, 99)];
    const lifetimes = sortNumbers(attack.headerLifetimes);
    const bad: string[] = [];
    if (withAttack.failures.length)
      bad.push(`${withAttack.failures.length} normal requests failed under attack: ${withAttack.failures.slice(0, 3).join(', ')}`);
    if (without.failures.length) bad.push(`${without.failures.length} normal requests failed without attack`);
    if (u99 > 1000) bad.push(`normal clients' p99 under attack is ${u99.toFixed(0)} ms (over 1 s)`);
    if (!gatewayAlive) bad.push('the gateway exited');
    const rsBad: string[] = [];
    if (!settle.settled) rsBad.push(`descriptors stayed above the pre-attack count for 90 s: ${fdText(settle.after)} vs ${fdText(idle)}`);
    if (visible !== 0) rsBad.push(`the attack's unfinished uploads: listing answered ${listing.status} with ${visible} entries`);
    const MiBs = (b: number) => `${(b / MIB).toFixed(0)} MiB`;
    return [
      {
        case: `slow clients: ${n} slow-header + ${n} slow-body + ${n} slow-reading connections, normal clients' latency (${driver})`,
        measured: `under attack: p50 ${u50.toFixed(1)} ms, p99 ${u99.toFixed(1)} ms, ${withAttack.ops} requests, ${withAttack.failures.length} failed`,
        baseline: `same clients without attack: p50 ${b50.toFixed(1)} ms, p99 ${b99.toFixed(1)} ms, ${without.ops} requests, ${without.failures.length} failed`,
        outcome: bad.length ? 'fail' : 'pass',
        figures: {
          p50Ms: u50,
          p99Ms: u99,
          requests: withAttack.ops,
          failed: withAttack.failures.length,
          baselineP50Ms: b50,
          baselineP99Ms: b99,
          baselineRequests: without.ops,
          attackConnectionsOpened: attack.opened,
          attackOpenPeak: peakOpen,
          openHeaderAtEnd: openAtEnd.header,
          openBodyAtEnd: openAtEnd.body,
          openReadAtEnd: openAtEnd.read,
          slowHeaderLifetimeP50Ms: percentile(lifetimes, 50),
          slowHeaderCut: lifetimes.length,
        },
        detail:
          (bad.length ? `${bad.join('; ')}. ` : '') +
          `attack: ${attack.opened} connections opened, ${peakOpen} open at most (at the end: ${openAtEnd.header} header, ${openAtEnd.body} body, ${openAtEnd.read} reading); ` +
          (lifetimes.length
            ? `the gateway closed ${lifetimes.length} slow-header connections after p50 ${(percentile(lifetimes, 50) / 1000).toFixed(1)} s`
            : 'no slow-header connection was closed by the gateway during the attack'),
      },
      {
        case: `slow clients: descriptors and memory after the attack (${driver})`,
        measured: `${fdText(settle.after)} ${settle.ms ? `(settled in ${(settle.ms / 1000).toFixed(1)} s)` : ''}; peak during attack ${peakFds} fds, RSS ${MiBs(peakRss)}; ${visible} attack uploads visible`,
        baseline: `before the attack: ${fdText(idle)}, RSS ${MiBs(rssIdle)}`,
        outcome: rsBad.length || !gatewayAlive ? 'fail' : 'pass',
        figures: {
          fdsAfter: settle.after.fds,
          socketsAfter: settle.after.sockets,
          fdsBefore: idle.fds,
          socketsBefore: idle.sockets,
          peakFds,
          peakRssMiB: Math.round(peakRss / MIB),
          rssIdleMiB: Math.round(rssIdle / MIB),
          visibleAttackUploads: visible,
        },
        detail: rsBad.length ? rsBad.join('; ') : undefined,
      },
    ];
  })();
  later.catch(() => undefined);
  return { later };
}

export function slowClientsCase(shared: Shared): ReliabilityCase {
  return {
    name: 'slow',
    async run(ctx) {
      const s3 = await onDriver(shared, ctx, 's3');
      const fs = await onDriver(shared, ctx, 'fs');
      return [...(await fs.later), ...(await s3.later)];
    },
  };
}
