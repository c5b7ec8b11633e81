/**
 * Figure 1, the redirect path: GET of a passive artifact (a PNG, no Sec-Fetch headers) on its
 * project's origin -> 302 to a presigned URL, at 64 connections, against the same 302 with
 * exactly the gateway's headers from a one-middleware Koa app in the same run (the target: the
 * gateway's own work costs at most a fifth of that floor's rate). nginx answering `return 302`
 * with the same Location and a bare node:http server are measured alongside, for reference.
 * Each run also records the server's CPU time per request (from /proc), which load on the
 * machine disturbs far less than req/s.
 *
 * The gateway and the Koa floor are measured in turn, three rounds of half the figure's seconds
 * each, and each is reported by its median round: on two shared cores the speed of everything
 * here drifted by up to 2x within minutes, so one long run of each, minutes apart, could land on
 * either side of the target by that drift alone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/http/logger';
import { createGateway } from '../../src/server';
import { startFloor } from '../lib/floor';
import { koaFloor } from '../lib/floor-server';
import { cpuPerRequest } from '../lib/in-process';
import { call, expectStatus, pattern } from '../lib/http';
import { originHost, putArtifact, SITE, type BenchContext, type Row } from '../lib/context';
import { childrenOf, cpuSeconds } from '../lib/proc';
import { startNginx } from '../lib/services';
import { wrk, type WrkResult } from '../lib/wrk';

const CONNECTIONS = 64;
const PATH = '/1/img/logo.png';
// hop-by-hop and per-response headers that every server adds by itself
const OWN_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

export interface Measured extends WrkResult {
  /** Server CPU (user + system) per request, µs. */
  cpuUsPerRequest: number;
}

const ROUNDS = 3;

interface Target {
  url: string;
  host?: string;
  /** The server's processes, whose CPU time is counted. */
  pids: number[];
}

export interface RedirectSetup {
  location: string;
  nginx: Measured;
  bareNode: Measured;
  /** The one-middleware Koa floor, running until the bench stops: measured with the gateway. */
  koa: Target;
  /** The headers the gateway sent with the 302, which the floors send too. */
  headers: Array<[string, string]>;
}

/** The gateway and the Koa floor, each by its median round. */
export interface RedirectPair {
  gateway: Measured;
  koa: Measured;
  /** req/s of every round, in order. */
  rounds: { gateway: number[]; koa: number[] };
}

/** Warms the server up: JIT, caches. */
function warmUp(ctx: BenchContext, t: Target): Promise<unknown> {
  return wrk({ url: t.url, host: t.host, connections: CONNECTIONS, seconds: 3, dir: ctx.dir });
}

/** One warm-up and one measured wrk run, with the CPU the server processes used meanwhile. */
async function measure(ctx: BenchContext, pids: number[], t: { url: string; host?: string }, seconds = ctx.seconds): Promise<Measured> {
  await warmUp(ctx, { ...t, pids });
  return measureOnce(ctx, { ...t, pids }, seconds);
}

async function measureOnce(ctx: BenchContext, t: Target, seconds: number): Promise<Measured> {
  const { pids } = t;
  const cpu = () => pids.map(cpuSeconds).reduce((sum, c) => sum + c.user + c.system, 0);
  const before = cpu();
  const result = await wrk({ url: t.url, host: t.host, connections: CONNECTIONS, seconds, dir: ctx.dir });
  const used = cpu() - before;
  if (result.errors > 0) throw new Error(`figure 1: ${result.errors} errors under load at ${t.url}`);
  return { ...result, cpuUsPerRequest: (used / result.requests) * 1e6 };
}

/** Seeds the PNG, checks the 302 and its URL, then measures nginx and the two Node floors. */
export async function setupRedirect(ctx: BenchContext, stopLater: (stop: () => Promise<void>) => void): Promise<RedirectSetup> {
  await putArtifact(ctx, { project: SITE, build: '1', path: 'img/logo.png', size: 8192, contentType: 'image/png', chunk: pattern(8192) });
  const reply = await call({ port: ctx.gateway.port, host: originHost(ctx, SITE), path: PATH });
  expectStatus('GET of the PNG on its origin', reply, 302);
  const location = reply.headers.location!;
  const followed = await fetch(location);
  if (followed.status !== 200 || (await followed.arrayBuffer()).byteLength !== 8192) {
    throw new Error(`the presigned URL did not serve the PNG: HTTP ${followed.status}`);
  }

  const nginx = await startNginx(ctx.dir, location);
  stopLater(() => nginx.stop());
  ctx.log(`figure 1: nginx ${nginx.version} return 302 (one worker), ${CONNECTIONS} connections, ${ctx.seconds} s`);
  const nginxResult = await measure(ctx, [nginx.pid, ...childrenOf(nginx.pid)], { url: `http://127.0.0.1:${nginx.port}${PATH}` });
  await nginx.stop();

  const headersFile = join(ctx.dir, 'redirect-headers.json');
  const headers = Object.entries(reply.headers).filter(([name]) => !OWN_HEADERS.has(name)) as Array<[string, string]>;
  writeFileSync(headersFile, JSON.stringify(headers));
  const bare = await startFloor('node', [headersFile]);
  stopLater(bare.stop);
  ctx.log(`figure 1: floor, the same 302 from bare node:http, ${ctx.seconds} s`);
  const bareNode = await measure(ctx, [bare.pid], { url: `http://127.0.0.1:${bare.port}${PATH}` });
  await bare.stop();
  const koa = await startFloor('koa', [headersFile]);
  stopLater(koa.stop);
  return { location, nginx: nginxResult, bareNode, koa: { url: `http://127.0.0.1:${koa.port}${PATH}`, pids: [koa.pid] }, headers };
}

/** The gateway's redirect path and the Koa floor under the same load, in alternating rounds. */
export async function measureRedirect(ctx: BenchContext, setup: RedirectSetup): Promise<RedirectPair> {
  const gateway: Target = { url: `http://127.0.0.1:${ctx.gateway.port}${PATH}`, host: originHost(ctx, SITE), pids: [ctx.gateway.pid] };
  const seconds = Math.max(2, Math.round(ctx.seconds / 2));
  ctx.log(`figure 1: the gateway and the Koa floor in turn, ${ROUNDS} rounds of ${seconds} s each`);
  await warmUp(ctx, setup.koa);
  await warmUp(ctx, gateway);
  const runs: { gateway: Measured[]; koa: Measured[] } = { gateway: [], koa: [] };
  for (let i = 0; i < ROUNDS; i++) {
    runs.koa.push(await measureOnce(ctx, setup.koa, seconds));
    runs.gateway.push(await measureOnce(ctx, gateway, seconds));
  }
  const rps = (ms: Measured[]) => ms.map((m) => Math.round(m.rps));
  return { gateway: median(runs.gateway), koa: median(runs.koa), rounds: { gateway: rps(runs.gateway), koa: rps(runs.koa) } };
}

/** The round with the median req/s. */
function median(runs: Measured[]): Measured {
  return [...runs].sort((a, b) => a.rps - b.rps)[runs.length >> 1];
}

const IN_PROCESS_REQUESTS = 50_000;

/**
 * The same request without sockets, in this process: a gateway app built from the running
 * gateway's environment, and the Koa floor's app, in alternating rounds. CPU per request of what
 * runs in JavaScript only (lib/in-process.ts), each by its median round: where the socket
 * figures differ from these, the difference is not in the gateway's code path.
 */
export async function redirectInProcessRow(ctx: BenchContext, setup: RedirectSetup): Promise<Row> {
  const gateway = await createGateway(loadConfig(ctx.gateway.env), createLogger('warn'));
  try {
    const apps = { gateway: gateway.app.callback(), koa: koaFloor(setup.headers).callback() };
    const request = { method: 'GET', path: PATH, headers: { host: originHost(ctx, SITE) } };
    ctx.log(`figure 1: in-process, the gateway's app and the Koa floor's, ${ROUNDS} rounds of ${IN_PROCESS_REQUESTS} requests, 64 at a time`);
    const rounds: { gateway: number[]; koa: number[] } = { gateway: [], koa: [] };
    for (const app of ['gateway', 'koa'] as const) await cpuPerRequest(apps[app], request, { requests: 5_000, concurrency: CONNECTIONS }); // JIT
    for (let i = 0; i < ROUNDS; i++) {
      for (const app of ['koa', 'gateway'] as const) {
        rounds[app].push(await cpuPerRequest(apps[app], request, { requests: IN_PROCESS_REQUESTS, concurrency: CONNECTIONS }));
      }
    }
    const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const [value, floor] = [mid(rounds.gateway), mid(rounds.koa)];
    return {
      figure: '1',
      what: 'redirect path in-process (no sockets), CPU per request',
      value,
      unit: 'µs',
      baseline: { what: 'the Koa floor in-process', value: floor },
      ratio: value / floor,
      target: '—',
      detail: { roundsUs: rounds },
    };
  } finally {
    await gateway.storage.close();
  }
}

const us = (m: Measured) => ({ cpuUsPerRequest: Math.round(m.cpuUsPerRequest * 10) / 10, rps: Math.round(m.rps), p99Ms: m.latencyMs.p99 });

/** The target: the gateway's own work keeps it within 0.8x of the least a Koa app does for the same 302. */
const FLOOR_TARGET = 0.8;

export function redirectRows(setup: RedirectSetup, pair: RedirectPair, variant: string, withTargets: boolean): Row[] {
  const { gateway, koa } = pair;
  const ratio = gateway.rps / koa.rps;
  const suffix = variant ? ` (${variant})` : '';
  const main: Row = {
    figure: '1',
    what: `redirect path: GET PNG -> 302 presigned, ${CONNECTIONS} conn, req/s${suffix}`,
    value: gateway.rps,
    unit: 'req/s',
    baseline: { what: 'one-middleware Koa floor', value: koa.rps },
    ratio,
    target: `>= ${FLOOR_TARGET}x`,
    met: withTargets ? ratio >= FLOOR_TARGET : undefined,
    detail: {
      gateway: us(gateway),
      nginx: us(setup.nginx),
      bareNode: us(setup.bareNode),
      koa: us(koa),
      roundsRps: pair.rounds,
      wrk: { gateway, nginx: setup.nginx },
    },
  };
  // nginx's ratio stays in the table: what a 302 costs without any Node at all
  const againstNginx: Row = {
    figure: '1',
    what: `redirect path, against nginx, req/s${suffix}`,
    value: gateway.rps,
    unit: 'req/s',
    baseline: { what: 'nginx return 302', value: setup.nginx.rps },
    ratio: gateway.rps / setup.nginx.rps,
    target: '—',
  };
  if (!withTargets) return [main, againstNginx];
  const floor = (what: string, m: Measured): Row => ({
    figure: '1',
    what: `floor: the same 302 and headers from ${what}, req/s`,
    value: m.rps,
    unit: 'req/s',
    baseline: { what: 'nginx return 302', value: setup.nginx.rps },
    ratio: m.rps / setup.nginx.rps,
    target: '—',
    detail: us(m),
  });
  return [
    main,
    againstNginx,
    {
      figure: '1',
      what: 'redirect path: p99 latency',
      value: gateway.latencyMs.p99,
      unit: 'ms',
      baseline: { what: 'nginx return 302', value: setup.nginx.latencyMs.p99 },
      target: '< 10 ms',
      met: gateway.latencyMs.p99 < 10,
      detail: { p50: gateway.latencyMs.p50, p90: gateway.latencyMs.p90, max: gateway.latencyMs.max },
    },
    floor('bare node:http', setup.bareNode),
    floor('a one-middleware Koa app', koa),
  ];
}
