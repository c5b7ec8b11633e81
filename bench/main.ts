/**
 * `npm run bench`: starts what it measures on loopback (radosgw, nginx, the built gateway on the
 * s3 driver), runs each figure for a bounded time, prints one table with every figure next to
 * its baseline from this run, writes the same as JSON to bench/results/, and stops everything,
 * also after a failure or Ctrl-C.
 *
 *   npm run bench [-- [redirect] [inline] [memory] [cache] [upload] [build-caches] [actions-cache] [report-load] [zip] [bundle-upload] [--seconds=N] [--profile]]
 *
 * --profile also runs the redirect path and the inline HTML transfers once more each under
 * `node --cpu-prof` and prints where the gateway's time went (those runs are not figures:
 * profiling slows them down).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../src/storage/s3/client';
import { actionsCacheFigure } from './figures/actions-cache';
import { buildCacheFigure } from './figures/build-caches';
import { bundleUploadFigure } from './figures/bundle-upload';
import { cacheFigure } from './figures/cache-lookup';
import { inlineFigure } from './figures/inline';
import { memoryFigure } from './figures/memory';
import { measureRedirect, redirectInProcessRow, redirectRows, setupRedirect } from './figures/redirect';
import { reportLoadFigure } from './figures/report-load';
import { uploadFigure } from './figures/upload';
import { zipFigure } from './figures/zip';
import { SITE, type BenchContext, type Row } from './lib/context';
import { summarizeProfile, type ProfileSummary } from './lib/profile';
import { notes, table } from './lib/report';
import { ROOT, startGateway, startRadosgw, type Gateway, type GatewayOptions } from './lib/services';

const FIGURES = ['redirect', 'inline', 'cache', 'upload', 'memory', 'build-caches', 'actions-cache', 'report-load', 'zip', 'bundle-upload'] as const;
type Figure = (typeof FIGURES)[number];

function parseArgs(argv: string[]): { figures: Figure[]; seconds: number; profile: boolean } {
  let seconds = 10;
  let profile = false;
  const figures: Figure[] = [];
  for (const a of argv) {
    if (a === '--profile') profile = true;
    else if (a.startsWith('--seconds=')) seconds = Number(a.slice('--seconds='.length));
    else if ((FIGURES as readonly string[]).includes(a)) figures.push(a as Figure);
    else throw new Error(`unknown argument ${a}; expected ${FIGURES.join(', ')}, --seconds=N or --profile`);
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 120) throw new Error('--seconds must be 1 to 120');
  return { figures: figures.length ? FIGURES.filter((f) => figures.includes(f)) : [...FIGURES], seconds, profile };
}

/** First line a command prints on stdout or stderr (nginx -v uses stderr); 'missing' when it cannot run. */
function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
  return r.error || first === '' ? 'missing' : first; // wrk --version exits 1
}

function machine() {
  const cpu = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    if (execFileSync('git', ['-C', ROOT, 'status', '--porcelain'], { encoding: 'utf8' }).trim()) commit += ' (with uncommitted changes)';
  } catch {
    // not a git checkout
  }
  return {
    cores: cpu.length,
    cpu: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    wrk: version('wrk', ['--version']).replace(/ Copyright.*/, ''),
    nginx: version('/usr/sbin/nginx', ['-v']).replace(/^nginx version: /, ''),
    radosgw: version('radosgw', ['--version']).replace(/ \(.*/, ''),
    commit,
    /** 1-minute load average before the run: other work on the machine skews every figure. */
    loadBefore: Math.round(loadavg()[0] * 100) / 100,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const [cmd, pkg] of [
    ['wrk', 'wrk'],
    ['radosgw', 'radosgw'],
  ] as const) {
    if (spawnSync('which', [cmd]).status !== 0) throw new Error(`${cmd} is not installed (Debian package ${pkg}): run bash scripts/install-deps.sh`);
  }
  const info = machine();
  const log = (m: string) => process.stderr.write(`[bench +${Math.round(process.uptime())}s] ${m}\n`);
  log(`${info.cores} cores (${info.cpu}), Node ${info.node}, ${info.wrk}, nginx ${info.nginx}, ${info.radosgw}`);
  if (info.loadBefore > 0.5) log(`warning: load average ${info.loadBefore} before the run; figures will be lower than on an idle machine`);

  const dir = mkdtempSync(join(tmpdir(), 'agw-bench-'));
  const stops: Array<() => Promise<void>> = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const rows: Row[] = [];
  const profiles: Record<string, ProfileSummary> = {};
  try {
    log('starting radosgw (memstore) on loopback');
    const s3 = await startRadosgw(dir);
    stops.push(() => s3.stop());
    const s3client = createS3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    stops.push(async () => s3client.destroy());

    const base: GatewayOptions = { s3, dir, secret: randomBytes(24).toString('hex'), publicProjects: [SITE], logLevel: 'warn' };
    let gateway: Gateway = await startGateway(base);
    const stopGateway = () => gateway.stop();
    stops.push(() => stopGateway());
    const ctx: BenchContext = {
      dir,
      s3,
      s3client,
      secret: base.secret,
      gateway,
      seconds: args.seconds,
      log,
      async restartGateway(options = {}) {
        await gateway.stop();
        gateway = await startGateway({ ...base, ...options, port: gateway.port });
        ctx.gateway = gateway;
        return gateway;
      },
    };

    /** Runs `work` once more on a gateway under `node --cpu-prof`, then restarts it plainly. */
    const profiled = async (name: string, what: string, work: () => Promise<unknown>) => {
      await ctx.restartGateway({ logLevel: 'warn', cpuProfile: true });
      log(`profile: ${what} under node --cpu-prof`);
      await work();
      profiles[what] = await collectProfile(ctx, dir, name);
      await ctx.restartGateway({ logLevel: 'warn' });
    };

    for (const figure of args.figures) {
      switch (figure) {
        case 'redirect': {
          const setup = await setupRedirect(ctx, (stop) => stops.push(stop));
          log('figure 1: the gateway (LOG_LEVEL=warn), 64 connections');
          rows.push(...redirectRows(setup, await measureRedirect(ctx, setup), '', true));
          rows.push(await redirectInProcessRow(ctx, setup));
          // the access log is an info line per request: what it costs, measured
          await ctx.restartGateway({ logLevel: 'info' });
          log('figure 1: the gateway with its access log (LOG_LEVEL=info)');
          rows.push(...redirectRows(setup, await measureRedirect(ctx, setup), 'LOG_LEVEL=info, access log on', false).slice(0, 1));
          if (args.profile) await profiled('redirect', 'redirect path', () => measureRedirect(ctx, setup));
          else await ctx.restartGateway({ logLevel: 'warn' });
          break;
        }
        case 'inline':
          rows.push(...(await inlineFigure(ctx)));
          if (args.profile) await profiled('inline', 'inline HTML, 1 MiB and 100 MiB', () => inlineFigure(ctx));
          break;
        case 'cache':
          rows.push(...(await cacheFigure(ctx)));
          break;
        case 'upload':
          rows.push(...(await uploadFigure(ctx)));
          break;
        case 'memory':
          rows.push(...(await memoryFigure(ctx)));
          break;
        case 'build-caches':
          rows.push(...(await buildCacheFigure(ctx)));
          break;
        case 'actions-cache':
          rows.push(...(await actionsCacheFigure(ctx)));
          break;
        case 'report-load':
          rows.push(...(await reportLoadFigure(ctx)));
          break;
        case 'zip':
          rows.push(...(await zipFigure(ctx)));
          break;
        case 'bundle-upload':
          rows.push(...(await bundleUploadFigure(ctx)));
          break;
      }
    }
  } finally {
    log('stopping gateway, nginx and radosgw');
    await cleanup();
  }

  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ machine: info, seconds: args.seconds, rows, profiles }, null, 2)}\n`);
  process.stdout.write(
    `\nartifact-gateway bench: ${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}, ` +
      `${info.wrk}, nginx ${info.nginx}, ${info.radosgw}, commit ${info.commit}, load ${info.loadBefore} before\n\n${table(rows)}\n\n${notes(rows)}\n\n`,
  );
  for (const [what, p] of Object.entries(profiles)) process.stdout.write(`${profileText(what, p)}\n`);
  process.stdout.write(`results: ${file}\n`);
  const missed = rows.filter((r) => r.met === false);
  if (missed.length) process.stdout.write(`targets missed: ${missed.map((r) => `${r.figure} (${r.what})`).join('; ')}\n`);
}

async function collectProfile(ctx: BenchContext, dir: string, name: string): Promise<ProfileSummary> {
  await ctx.gateway.stop(); // the profile is written when the process exits
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) throw new Error('node --cpu-prof wrote no profile');
  const keep = join(ROOT, 'bench/results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  copyFileSync(files[0], keep);
  ctx.log(`profile: ${keep} (open in Chrome DevTools > Performance)`);
  return summarizeProfile(files[0]);
}

function profileText(what: string, p: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  return [
    `profile of ${what}: ${p.busyMs.toFixed(0)} ms busy of ${p.totalMs.toFixed(0)} ms; self time by package:`,
    ...p.byPackage.map((x) => `  ${pct(x.share)}  ${x.name}`),
    'by function:',
    ...p.byFunction.map((x) => `  ${pct(x.share)}  ${x.name}`),
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
