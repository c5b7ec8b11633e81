/**
 * Figure 1, the redirect path: GET of a passive artifact (a PNG, no Sec-Fetch headers) on its
 * project's origin -> 302 to a presigned URL, at 64 connections, against the same 302 with
 * exactly the gateway's headers from a one-middleware Koa app in the same run (the target: the
 * gateway's own work costs at most a fifth of that floor's rate). nginx answering `return 302`
 * with the same Location and a bare node:http server are measured alongside, for reference.
 * Each run also records the server's CPU time per request (from /proc), which load on the
 * machine disturbs far less than req/s.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFloor } from '../lib/floor';
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

export interface RedirectSetup {
  location: string;
  nginx: Measured;
  bareNode: Measured;
  koa: Measured;
}

/** One warm-up and one measured wrk run, with the CPU the server processes used meanwhile. */
async function measure(ctx: BenchContext, pids: number[], t: { url: string; host?: string }, seconds = ctx.seconds): Promise<Measured> {
  await wrk({ ...t, connections: CONNECTIONS, seconds: 3, dir: ctx.dir }); // warm-up: JIT, caches
  const cpu = () => pids.map(cpuSeconds).reduce((sum, c) => sum + c.user + c.system, 0);
  const before = cpu();
  const result = await wrk({ ...t, connections: CONNECTIONS, seconds, dir: ctx.dir });
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
  const floors: Record<'node' | 'koa', Measured> = {} as never;
  for (const kind of ['node', 'koa'] as const) {
    const floor = await startFloor(kind, [headersFile]);
    stopLater(floor.stop);
    ctx.log(`figure 1: floor, the same 302 from ${kind === 'node' ? 'bare node:http' : 'a one-middleware Koa app'}, ${ctx.seconds} s`);
    floors[kind] = await measure(ctx, [floor.pid], { url: `http://127.0.0.1:${floor.port}${PATH}` });
    await floor.stop();
  }
  return { location, nginx: nginxResult, bareNode: floors.node, koa: floors.koa };
}

/** The gateway's redirect path under the same load. */
export function measureRedirect(ctx: BenchContext, seconds = ctx.seconds): Promise<Measured> {
  return measure(ctx, [ctx.gateway.pid], { url: `http://127.0.0.1:${ctx.gateway.port}${PATH}`, host: originHost(ctx, SITE) }, seconds);
}

const us = (m: Measured) => ({ cpuUsPerRequest: Math.round(m.cpuUsPerRequest * 10) / 10, rps: Math.round(m.rps), p99Ms: m.latencyMs.p99 });

/** The target: the gateway's own work keeps it within 0.8x of the least a Koa app does for the same 302. */
const FLOOR_TARGET = 0.8;

export function redirectRows(setup: RedirectSetup, gateway: Measured, variant: string, withTargets: boolean): Row[] {
  const ratio = gateway.rps / setup.koa.rps;
  const suffix = variant ? ` (${variant})` : '';
  const main: Row = {
    figure: '1',
    what: `redirect path: GET PNG -> 302 presigned, ${CONNECTIONS} conn, req/s${suffix}`,
    value: gateway.rps,
    unit: 'req/s',
    baseline: { what: 'one-middleware Koa floor', value: setup.koa.rps },
    ratio,
    target: `>= ${FLOOR_TARGET}x`,
    met: withTargets ? ratio >= FLOOR_TARGET : undefined,
    detail: { gateway: us(gateway), nginx: us(setup.nginx), bareNode: us(setup.bareNode), koa: us(setup.koa), wrk: { gateway, nginx: setup.nginx } },
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
    floor('a one-middleware Koa app', setup.koa),
  ];
}
