/**
 * Figure 9, many small files: 10,000 files of 4 KiB uploaded to a build by the real `upload`
 * command (dist/cli/index.js, a child process, as a CI job runs it) as one bundle (the default for
 * a directory) against one request per file (`--no-bundle`, 4 in flight, the default), in the
 * same run: bundle, then file by file, then (after the download) the bundle again into a third
 * build, so that drift during the run shows. Its floor: the same 10,000 files written straight to
 * S3 from Node, one PUT each, 16 in flight: the least that storing each file as an object of its
 * own costs, whoever sends it. Each upload starts on a freshly started gateway, whose peak RSS (VmHWM)
 * afterwards is that upload's alone. Then `download` of the first bundle's whole build (the same
 * 10,000 files, each verified) against the upload times.
 */
import { spawn } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobToken, MiB, type BenchContext, type Row } from '../lib/context';
import { memory, sampleRss } from '../lib/proc';
import { ROOT } from '../lib/services';

const PROJECT = 'bench/bundle';
const FILES = 10_000;
const FILE_BYTES = 4096;
const PER_DIR = 100;
const CLI = join(ROOT, 'dist/cli/index.js');
/** Per command: file by file on a loaded machine is slow, and that is what is measured. */
const TIMEOUT_MS = 60 * 60 * 1000;

interface Run {
  seconds: number;
  /** Retries the command reported (a request sent again). */
  retries: number;
  /** Gateway: RSS after start, the peak (VmHWM) of the fresh process, the highest RSS sampled. */
  idleRss: number;
  peakRss: number;
  sampledRss: number;
}

/** The 10,000 files: 100 directories of 100, each file's bytes its own. */
function writeTree(dir: string): void {
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `d${String(Math.floor(i / PER_DIR)).padStart(3, '0')}`);
    if (i % PER_DIR === 0) mkdirSync(sub, { recursive: true });
    const line = `file ${i} of the bundle figure\n`;
    writeFileSync(join(sub, `f${String(i).padStart(5, '0')}.txt`), line.repeat(Math.ceil(FILE_BYTES / line.length)).slice(0, FILE_BYTES));
  }
}

/**
 * Runs the command line to completion: its wall-clock seconds and how many times it retried
 * (a retried bundle is sent again whole, which the time includes), or an error with its stderr's tail.
 */
function cli(ctx: BenchContext, args: string[], token: string): Promise<{ seconds: number; retries: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ARTIFACT_GATEWAY_URL: `http://${ctx.gateway.apiHost}`, ARTIFACT_GATEWAY_TOKEN: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let retries = 0;
    child.stderr.on('data', (d: Buffer) => {
      retries += d
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('retrying ')).length;
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, retries });
      else reject(new Error(`artifact-gateway ${args[0]} exited ${code ?? signal} after ${seconds.toFixed(0)} s:\n${stderr}`));
    });
  });
}

/** The floor: each file PUT straight to the artifacts bucket, 16 in flight; seconds. */
async function directPuts(ctx: BenchContext): Promise<number> {
  const body = Buffer.alloc(FILE_BYTES, 'x');
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < FILES) {
      const key = `bench-floor/${process.pid}/${next++}`;
      await ctx.s3client.send(new PutObjectCommand({ Bucket: ctx.gateway.env.ARTIFACTS_BUCKET, Key: key, Body: body }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** One command on a freshly started gateway, with the gateway's memory around it. */
async function measured(ctx: BenchContext, what: string, args: string[], token: string): Promise<Run> {
  const gw = await ctx.restartGateway({ logLevel: 'warn' });
  const idle = memory(gw.pid);
  ctx.log(`figure 9: ${what}`);
  const sampler = sampleRss(gw.pid, 50);
  const { seconds, retries } = await cli(ctx, args, token);
  const sampledRss = sampler.stop();
  const after = memory(gw.pid);
  ctx.log(`figure 9: ${what}: ${seconds.toFixed(1)} s, ${retries} retries, gateway peak RSS ${(after.peak / MiB).toFixed(0)} MiB`);
  return { seconds, retries, idleRss: idle.rss, peakRss: after.peak, sampledRss };
}

export async function bundleUploadFigure(ctx: BenchContext): Promise<Row[]> {
  const src = join(ctx.dir, 'bundle-src');
  ctx.log(`figure 9: writing ${FILES.toLocaleString('en')} files of ${FILE_BYTES} bytes`);
  writeTree(src);
  const tokens = {
    bundle: await jobToken(ctx, PROJECT, 'bundle', ['artifacts:write', 'artifacts:read']),
    files: await jobToken(ctx, PROJECT, 'files', ['artifacts:write']),
    again: await jobToken(ctx, PROJECT, 'bundle-again', ['artifacts:write']),
  };
  const up = (build: string, extra: string[] = []) => ['upload', '--project', PROJECT, '--build', build, ...extra, src];
  const bundle = await measured(ctx, 'upload as one bundle', up('bundle'), tokens.bundle);
  const files = await measured(ctx, 'upload file by file (--no-bundle)', up('files', ['--no-bundle']), tokens.files);
  ctx.log(`figure 9: the floor, ${FILES.toLocaleString('en')} PUTs straight to S3`);
  const floor = await directPuts(ctx);
  ctx.log(`figure 9: the floor: ${floor.toFixed(1)} s`);
  const dest = join(ctx.dir, 'bundle-dest');
  const down = await measured(ctx, 'download of the whole build', ['download', '--project', PROJECT, '--build', 'bundle', dest], tokens.bundle);
  // the bundle once more, last: drift over the run shows; a failure here (the client gives up when
  // the gateway answers nothing for 120 s while it publishes, which a loaded machine reaches) is
  // reported, not fatal, so the figures measured so far are kept
  const again = await measured(ctx, 'upload as one bundle, again', up('bundle-again'), tokens.again).catch((err: unknown) => {
    ctx.log(`figure 9: the second bundle failed: ${(err as Error).message}`);
    return { ...bundle, seconds: NaN, failed: (err as Error).message.split('\n').slice(-3).join(' ') };
  });

  // the slower of the two bundles, against the one per-file run
  const bundleSeconds = Number.isNaN(again.seconds) ? bundle.seconds : Math.max(bundle.seconds, again.seconds);
  const speedup = files.seconds / bundleSeconds;
  const mib = (bytes: number) => bytes / MiB;
  const detail = {
    files: FILES,
    fileBytes: FILE_BYTES,
    seconds: { bundle: bundle.seconds, perFile: files.seconds, bundleAgain: again.seconds, download: down.seconds, floor },
    gatewayRss: { bundle, perFile: files, bundleAgain: again, download: down },
  };
  return [
    {
      figure: '9',
      what: `upload ${FILES.toLocaleString('en')} files of 4 KiB as one bundle, s (ratio: file-by-file time / bundle time)`,
      value: bundleSeconds,
      unit: 's',
      baseline: { what: 'the same files, one request each (--no-bundle, 4 in flight)', value: files.seconds },
      ratio: speedup,
      target: '>= 10x',
      met: speedup >= 10,
      detail,
    },
    {
      figure: '9',
      what: `floor: ${FILES.toLocaleString('en')} PUTs of 4 KiB straight to S3, 16 in flight, s (ratio: the most one object per file allows)`,
      value: floor,
      unit: 's',
      baseline: { what: 'upload file by file', value: files.seconds },
      ratio: files.seconds / floor,
      target: '—',
    },
    {
      figure: '9',
      what: 'gateway peak RSS during the bundle upload, MiB',
      value: mib(Number.isNaN(again.seconds) ? bundle.peakRss : Math.max(bundle.peakRss, again.peakRss)),
      unit: 'MiB',
      baseline: { what: 'same process after start', value: mib(bundle.idleRss) },
      target: '—',
    },
    {
      figure: '9',
      what: 'gateway peak RSS during the file-by-file upload, MiB',
      value: mib(files.peakRss),
      unit: 'MiB',
      baseline: { what: 'same process after start', value: mib(files.idleRss) },
      target: '—',
    },
    {
      figure: '9',
      what: `download of the whole build (${FILES.toLocaleString('en')} files, verified), s`,
      value: down.seconds,
      unit: 's',
      baseline: { what: 'its upload as one bundle', value: bundle.seconds },
      target: '—',
    },
    {
      figure: '9',
      what: 'the same download against the file-by-file upload, s',
      value: down.seconds,
      unit: 's',
      baseline: { what: 'upload file by file', value: files.seconds },
      target: '—',
    },
  ];
}
