/**
 * What compressing a report's text costs, measured before choosing how the gateway compresses
 * (docs/performance.md, "Compression"): for each file, the CPU time per MB of input and the
 * ratio of gzip (levels 1 and 6) and brotli (qualities 4, 5 and 11) through node:zlib streams,
 * the way a response would be compressed. From the same numbers it prints what compressing once
 * at upload would cost instead: the CPU an upload spends and the bytes stored beside each file.
 *
 *   npm run build && tsc -p bench/tsconfig.json && node dist/bench/bench/compression-cost.js [file or directory ...]
 *
 * Without arguments it measures the report and trace-viewer assets playwright-core ships (the
 * very files a Playwright HTML report and its trace viewer serve) and mime-db's JSON. A
 * directory is walked and every compressible file of at least 1 KiB in it is measured.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';
import { compressibleType } from '../src/http/compression';
import { contentTypeFor } from '../src/content-policy';

interface Setting {
  name: string;
  make(): NodeJS.ReadWriteStream;
}

// the qualities set explicitly: node's brotli default is 11, far too slow for a response
const brotli = (quality: number) => () =>
  createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } });
const SETTINGS: Setting[] = [
  { name: 'gzip 1', make: () => createGzip({ level: 1 }) },
  { name: 'gzip 6', make: () => createGzip({ level: 6 }) },
  { name: 'br 4', make: brotli(4) },
  { name: 'br 5', make: brotli(5) },
  { name: 'br 11', make: brotli(11) },
];

/** CPU of this process (main thread and zlib's thread pool) for one compression, and its output size. */
async function compressOnce(file: string, s: Setting): Promise<{ cpuUs: number; out: number }> {
  let out = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.length;
      done();
    },
  });
  const before = process.cpuUsage();
  await pipeline(createReadStream(file), s.make(), sink);
  const used = process.cpuUsage(before);
  return { cpuUs: used.user + used.system, out };
}

/** Repeats until at least 0.3 s of CPU was spent (or 50 times), so small files are not lost in noise. */
async function measure(file: string, s: Setting): Promise<{ msPerMB: number; ratio: number }> {
  const size = statSync(file).size;
  await compressOnce(file, s); // warm-up: page cache and zlib's first allocation
  let cpuUs = 0;
  let runs = 0;
  let out = 0;
  while (cpuUs < 300_000 && runs < 50) {
    const r = await compressOnce(file, s);
    cpuUs += r.cpuUs;
    out = r.out;
    runs++;
  }
  return { msPerMB: cpuUs / 1000 / runs / (size / 1e6), ratio: out / size };
}

function walk(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((d) => walk(join(path, d.name)));
}

function defaultFiles(): string[] {
  const vite = join(dirname(require.resolve('playwright-core/package.json')), 'lib', 'vite');
  const viewer = join(vite, 'traceViewer');
  const bigJs = readdirSync(join(viewer, 'assets')).find((n) => n.startsWith('defaultSettingsView') && n.endsWith('.js'));
  const bigCss = readdirSync(viewer).find((n) => n.startsWith('defaultSettingsView') && n.endsWith('.css'));
  return [
    join(vite, 'htmlReport', 'report.js'),
    join(vite, 'htmlReport', 'report.css'),
    join(viewer, 'assets', bigJs!),
    join(viewer, bigCss!),
    join(viewer, 'index.html'),
    join(viewer, 'playwright-logo.svg'),
    require.resolve('mime-db/db.json'),
  ];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const files = (args.length ? args.flatMap(walk) : defaultFiles()).filter((f) => statSync(f).size >= 1024 && compressibleType(contentTypeFor(f)));
  if (files.length === 0) throw new Error('no compressible file of at least 1 KiB');
  const base = args.length === 1 && statSync(args[0]).isDirectory() ? args[0] : undefined;
  const totals = new Map<string, { cpuMs: number; out: number }>();
  let inBytes = 0;
  const lines = [
    `| file | type | size | ${SETTINGS.map((s) => `${s.name}: ms/MB, ratio`).join(' | ')} |`,
    `| --- | --- | ---: |${' ---: |'.repeat(SETTINGS.length)}`,
  ];
  for (const file of files) {
    const size = statSync(file).size;
    inBytes += size;
    const cells: string[] = [];
    for (const s of SETTINGS) {
      const m = await measure(file, s);
      const t = totals.get(s.name) ?? { cpuMs: 0, out: 0 };
      t.cpuMs += (m.msPerMB * size) / 1e6;
      t.out += m.ratio * size;
      totals.set(s.name, t);
      cells.push(`${m.msPerMB.toFixed(1)}, ${m.ratio.toFixed(3)}`);
    }
    const name = base ? relative(base, file) : file.slice(file.lastIndexOf('/') + 1);
    lines.push(`| ${name} | ${extname(file).slice(1)} | ${(size / 1024).toFixed(0)} KiB | ${cells.join(' | ')} |`);
  }
  const all = SETTINGS.map((s) => {
    const t = totals.get(s.name)!;
    return `${(t.cpuMs / (inBytes / 1e6)).toFixed(1)}, ${(t.out / inBytes).toFixed(3)}`;
  });
  lines.push(`| **all ${files.length}** | | ${(inBytes / 1024).toFixed(0)} KiB | ${all.join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n\n`);

  // compressing once at upload: the CPU an upload of these files spends and what is stored beside them
  const br11 = totals.get('br 11')!;
  const gz6 = totals.get('gzip 6')!;
  process.stdout.write(
    [
      `Compressed at upload (br 11 and gzip 6 stored beside each file, two extra objects a file):`,
      `  upload CPU: ${(br11.cpuMs + gz6.cpuMs).toFixed(0)} ms for ${(inBytes / 1e6).toFixed(2)} MB ` +
        `(${((br11.cpuMs + gz6.cpuMs) / (inBytes / 1e6)).toFixed(0)} ms/MB), ${files.length * 2} extra objects`,
      `  stored: +${(((br11.out + gz6.out) / inBytes) * 100).toFixed(1)}% bytes`,
      `On the fly (br 5, gzip 6 for clients without br): ${totals.get('br 5')!.cpuMs.toFixed(0)} ms of CPU per full load of these files with br, nothing stored`,
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
