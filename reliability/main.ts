/**
 * `npm run reliability`: a bounded fault campaign against the real built gateway and a real
 * radosgw, both on loopback on free ports in a temp dir. Runs each case, prints one table with
 * every case's measured figure next to its baseline from this run, writes the same as JSON to
 * reliability/results/, and stops everything, also after a failure or Ctrl-C.
 *
 *   npm run reliability [-- [faults] [slow] [soak] [crash] [aborts] [--soak-seconds=N] [--quick]]
 *
 * crash and aborts are cases of their own files (cases/crash.ts, cases/aborts.ts); they run
 * when those files are there and are skipped with a note when not.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { faultsCase } from './cases/faults';
import { slowClientsCase } from './cases/slow-clients';
import { soakCase } from './cases/soak';
import { details, table } from './lib/report';
import { ROOT, hasCommand, snapshotBuild } from './lib/services';
import { createShared } from './lib/shared';
import type { CaseContext, CaseRow, ReliabilityCase } from './lib/types';

const CASES = ['faults', 'slow', 'soak', 'crash', 'aborts'] as const;
type CaseName = (typeof CASES)[number];

function parseArgs(argv: string[]): { cases: CaseName[]; soakSeconds: number; scale: 'full' | 'quick' } {
  let soakSeconds = 600;
  let scale: 'full' | 'quick' = 'full';
  const cases: CaseName[] = [];
  for (const a of argv) {
    if (a.startsWith('--soak-seconds=')) soakSeconds = Number(a.slice('--soak-seconds='.length));
    else if (a === '--quick') scale = 'quick';
    else if ((CASES as readonly string[]).includes(a)) cases.push(a as CaseName);
    else throw new Error(`unknown argument ${a}; expected ${CASES.join(', ')}, --soak-seconds=N or --quick`);
  }
  if (!Number.isInteger(soakSeconds) || soakSeconds < 60 || soakSeconds > 3600) throw new Error('--soak-seconds must be a whole number from 60 to 3600');
  return { cases: cases.length ? CASES.filter((c) => cases.includes(c)) : [...CASES], soakSeconds, scale };
}

/** A case from another file, loaded only if that file was built (it may not exist yet). */
function optionalCase(file: string, exported: string): ReliabilityCase | string {
  const path = join(__dirname, 'cases', `${file}.js`);
  if (!existsSync(path)) return `cases/${file}.ts is not there yet`;
  // a case module found at run time by name: only require() loads a path computed here
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path) as Record<string, unknown>;
  const c = mod[exported] as ReliabilityCase | undefined;
  if (!c || typeof c.run !== 'function') return `cases/${file}.ts does not export ${exported}`;
  return c;
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
  return r.error || first === '' ? 'missing' : first;
}

function machine() {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    if (execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim()) commit += ' (with uncommitted changes in src)';
  } catch {
    // not a git checkout
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    radosgw: version('radosgw', ['--version']).replace(/ \(.*/, ''),
    commit,
    loadBefore: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!hasCommand('radosgw')) throw new Error('radosgw is not installed (Debian package radosgw): run bash scripts/install-deps.sh');
  const info = machine();
  const started = Date.now();
  const log = (m: string) => process.stderr.write(`[reliability +${Math.round((Date.now() - started) / 1000)}s] ${m}\n`);
  log(`${info.cores} cores (${info.cpu}), Node ${info.node}, ${info.radosgw}, load ${info.loadBefore.join(' ')}`);
  if (info.loadBefore[0] > 1) log(`warning: load average ${info.loadBefore[0]} before the run; latencies will be higher than on an idle machine`);

  const dir = mkdtempSync(join(tmpdir(), 'agw-reliability-'));
  const stops: Array<() => Promise<void>> = [];
  let cleaned = false;
  let interrupted = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
    if (!process.env.RELIABILITY_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping everything`);
      interrupted = true;
      void cleanup().finally(() => process.exit(130));
    });
  }

  const build = snapshotBuild();
  stops.push(async () => build.remove());
  log(`gateways run from a copy of this build: ${build.dir}`);

  const rows: CaseRow[] = [];
  const skipped: string[] = [];
  const ctx: CaseContext = { dir, scale: args.scale, log };
  const shared = createShared(
    dir,
    randomBytes(24).toString('hex'),
    args.soakSeconds,
    (s) => stops.push(s),
    () => ctx,
  );
  const timings: Record<string, number> = {};
  try {
    for (const name of args.cases) {
      if (interrupted) break;
      let c: ReliabilityCase | string;
      if (name === 'faults') c = faultsCase(shared);
      else if (name === 'slow') c = slowClientsCase(shared);
      else if (name === 'soak') c = soakCase(shared);
      else if (name === 'crash') c = optionalCase('crash', 'crashCase');
      else c = optionalCase('aborts', 'abortsCase');
      if (typeof c === 'string') {
        log(`${name}: skipped (${c})`);
        skipped.push(`${name}: ${c}`);
        continue;
      }
      log(`case ${c.name}`);
      const t0 = Date.now();
      const caseCtx: CaseContext = { dir: mkdtempSync(join(dir, `${name}-`)), scale: args.scale, log: (m) => log(`${name}: ${m}`) };
      if (name === 'crash' || name === 'aborts') {
        // the campaign's radosgw, so that these cases need not start one of their own
        const s3 = await shared.radosgw();
        caseCtx.s3 = { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: 'us-east-1' };
      }
      try {
        rows.push(...(await c.run(caseCtx)));
      } catch (err) {
        // a case that cannot finish is a failed row, not the end of the campaign
        log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
        rows.push({
          case: `${name}: the case itself`,
          measured: 'did not finish',
          baseline: '—',
          outcome: 'fail',
          detail: (err as Error).message.slice(0, 500),
        });
      }
      timings[name] = Math.round((Date.now() - t0) / 1000);
      log(`${name}: ${timings[name]} s`);
    }
  } finally {
    log('stopping gateways, proxies and radosgw');
    await cleanup();
  }

  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  const results = join(ROOT, 'reliability/results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `reliability-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ machine: { ...info, loadAfter }, args, seconds: timings, skipped, rows }, null, 2)}\n`);
  const failed = rows.filter((r) => r.outcome === 'fail');
  process.stdout.write(
    `\nartifact-gateway reliability: ${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}, ` +
      `${info.radosgw}, commit ${info.commit}; load ${info.loadBefore.join(' ')} before, ${loadAfter.join(' ')} after; ` +
      `${Math.round((Date.now() - started) / 1000)} s\n\n${table(rows)}\n\n${details(rows)}\n` +
      (skipped.length ? `\nskipped: ${skipped.join('; ')}\n` : '') +
      `\nresults: ${file}\n${failed.length ? `failed: ${failed.length} of ${rows.length} rows\n` : `all ${rows.length} rows pass\n`}`,
  );
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`reliability failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
