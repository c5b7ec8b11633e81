/**
 * Figure 7, a real report in a real browser: headless Chromium (Debian's, driven by
 * playwright-core) opens a Playwright HTML report with traces, as the real @playwright/test
 * writes it, from the gateway and from nginx serving the same files from disk, in the same run.
 * Each is loaded compressed (what Chromium asks for by itself) and uncompressed
 * (`Accept-Encoding: identity` through CDP), cold (a fresh browser context each round), over
 * loopback and over an emulated 20 Mbit/s link (NETWORKS below):
 *
 *   1. the report's index.html until its test list shows, then
 *   2. the trace viewer (trace/index.html?trace=…) until it lists the trace's actions.
 *
 * Time is from navigation to that point; bytes are the sums of CDP's encodedDataLength (what
 * came over the wire, headers included) for the page's own requests. The trace viewer's service
 * worker fetches the trace zip itself, outside the page's CDP session: its bytes (a zip, the
 * same whatever the coding) are not in the sums, its time is. nginx gzips the same types
 * (level 6) where the gateway sends brotli: Debian's nginx has no brotli module.
 */
import { chmodSync, createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join, relative } from 'node:path';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { makePlaywrightReport, PLAYWRIGHT_TESTS } from '../../test/support/reports/playwright-report';
import { CHROMIUM } from '../../test/support/reports/fixture';
import { artifactApiPath, jobToken, originHost, SITE, type BenchContext, type Row } from '../lib/context';
import { startNginxStatic } from '../lib/services';

const BUILD = 'r1';
const ROUNDS = 5;

/**
 * Loopback has no bandwidth limit, so there compression can only cost time; a viewer's network
 * has one. Chromium's own throttling (CDP Network.emulateNetworkConditions on the page) gives a
 * broadband-like link, the same for both servers. It shapes the page's requests, not the service
 * worker's fetch of the trace zip.
 */
const NETWORKS = {
  loopback: undefined,
  '20 Mbit/s, 40 ms RTT': { offline: false, latency: 40, downloadThroughput: 20e6 / 8, uploadThroughput: 5e6 / 8 },
} as const;
type Network = keyof typeof NETWORKS;

interface Load {
  ms: number;
  /** Of which the report's page, until its test list shows. */
  reportMs: number;
  bytes: number;
  /** Content-Encoding of the report's index.html and of the trace viewer's largest script. */
  codings: string[];
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
}

function putFile(ctx: BenchContext, token: string, path: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: ctx.gateway.port,
        method: 'PUT',
        path: artifactApiPath(SITE, BUILD, path),
        headers: { host: ctx.gateway.apiHost, authorization: `Bearer ${token}`, 'content-length': statSync(file).size },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 201 || res.statusCode === 200 ? resolve() : reject(new Error(`upload of ${path}: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
}

/** One cold load of the report and then of a trace, in a fresh context. */
async function loadOnce(browser: Browser, base: string, trace: string, identity: boolean, network: Network): Promise<Load> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    if (identity) await cdp.send('Network.setExtraHTTPHeaders', { headers: { 'Accept-Encoding': 'identity' } });
    const conditions = NETWORKS[network];
    if (conditions) await cdp.send('Network.emulateNetworkConditions', { ...conditions });
    const bytes = countBytes(cdp);
    const codings: string[] = [];
    const pending: Array<Promise<unknown>> = [];
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.endsWith('/index.html') || (path.includes('/trace/assets/') && path.includes('defaultSettingsView'))) {
        pending.push(r.allHeaders().then((h) => codings.push(`${path.slice(path.indexOf('/', 1) + 1)}: ${h['content-encoding'] ?? 'identity'}`)));
      }
    });
    const started = performance.now();
    await page.goto(`${base}/${BUILD}/index.html`);
    await page.getByText(PLAYWRIGHT_TESTS[0]).first().waitFor({ timeout: 60_000 });
    const reportMs = performance.now() - started;
    await page.goto(`${base}/${BUILD}/trace/index.html?trace=${encodeURIComponent(`${base}/${BUILD}/${trace}`)}`);
    await traceShown(page);
    const ms = performance.now() - started;
    await page.waitForLoadState('networkidle');
    await Promise.all(pending);
    return { ms, reportMs, bytes: bytes.total(), codings: codings.sort() };
  } finally {
    await context.close();
  }
}

/** The trace viewer lists the trace's actions (each row's title has this class). */
async function traceShown(page: Page): Promise<void> {
  await page.locator('.action-title').first().waitFor({ timeout: 60_000 });
}

/**
 * Bytes of the responses that came over HTTP. A frame the CSP blocks (the trace viewer frames a
 * data: URL, which the origins' `frame-src 'self'` refuses) shows Chromium's error page, whose
 * ~250 KB CDP also reports as a load: it never crossed the wire, so only requests with an http
 * response count.
 */
function countBytes(cdp: CDPSession): { total(): number } {
  const overHttp = new Set<string>();
  let total = 0;
  cdp.on('Network.responseReceived', (e: { requestId: string; response: { url: string } }) => {
    if (e.response.url.startsWith('http')) overHttp.add(e.requestId);
  });
  cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number }) => {
    if (overHttp.has(e.requestId)) total += e.encodedDataLength;
  });
  return { total: () => total };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function reportLoadFigure(ctx: BenchContext): Promise<Row[]> {
  // the same paths on both servers: /r1/<file>; a directory of its own that nginx's worker
  // (nobody, when the bench runs as root) may read: the bench's temp dir is private
  const root = mkdtempSync(join(tmpdir(), 'agw-bench-report-'));
  try {
    chmodSync(root, 0o755);
    return await measureReport(ctx, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measureReport(ctx: BenchContext, root: string): Promise<Row[]> {
  const reportDir = join(root, BUILD);
  ctx.log('figure 7: writing a Playwright HTML report with traces (@playwright/test in chromium)');
  await makePlaywrightReport(reportDir);
  const files = walk(reportDir);
  const size = files.reduce((n, f) => n + statSync(f).size, 0);
  const trace = files.map((f) => relative(reportDir, f)).find((p) => p.startsWith('data/') && p.endsWith('.zip'));
  if (!trace) throw new Error('figure 7: the report holds no trace (data/*.zip)');
  const token = await jobToken(ctx, SITE, BUILD, ['artifacts:write']);
  for (const f of files) await putFile(ctx, token, relative(reportDir, f), f);
  ctx.log(`figure 7: ${files.length} files, ${(size / 1e6).toFixed(1)} MB, uploaded; nginx serves the same directory`);

  const nginx = await startNginxStatic(ctx.dir, root, { gzip: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
  const servers = {
    gateway: `http://${originHost(ctx, SITE)}`,
    nginx: `http://localhost:${nginx.port}`,
  };
  const loads: Record<string, Load[]> = {};
  try {
    for (const base of Object.values(servers)) await loadOnce(browser, base, trace, false, 'loopback'); // warm-up: page cache, JIT
    for (const network of Object.keys(NETWORKS) as Network[]) {
      ctx.log(`figure 7: ${ROUNDS} rounds over ${network}`);
      for (let i = 0; i < ROUNDS; i++) {
        for (const identity of [false, true]) {
          for (const [name, base] of Object.entries(servers)) {
            const key = `${name} ${identity ? 'identity' : 'compressed'} ${network}`;
            const load = await loadOnce(browser, base, trace, identity, network).catch((err: Error) => {
              throw new Error(`figure 7: loading the report from ${key}: ${err.message}`);
            });
            (loads[key] ??= []).push(load);
          }
        }
      }
    }
  } finally {
    await browser.close();
    await nginx.stop();
  }

  // the figure means something only if each way got the coding it names
  const want = { 'gateway compressed': 'br', 'nginx compressed': 'gzip', 'gateway identity': 'identity', 'nginx identity': 'identity' };
  for (const [way, coding] of Object.entries(want)) {
    for (const network of Object.keys(NETWORKS)) {
      const key = `${way} ${network}`;
      const wrong = loads[key].flatMap((l) => l.codings).filter((c) => !c.endsWith(`: ${coding}`));
      if (wrong.length > 0 || loads[key].some((l) => l.codings.length < 2))
        throw new Error(`figure 7: ${key} expected ${coding}, got ${loads[key][0].codings.join(', ')}`);
    }
  }
  const rows: Row[] = [];
  const detail = (key: string) => ({
    rounds: loads[key].map((l) => Math.round(l.ms)),
    reportMs: loads[key].map((l) => Math.round(l.reportMs)),
    bytes: loads[key].map((l) => l.bytes),
    codings: loads[key][0].codings,
  });
  const report = `Playwright report (${(size / 1e6).toFixed(1)} MB, ${files.length} files) + a trace in Chromium`;
  for (const network of Object.keys(NETWORKS) as Network[]) {
    for (const mode of ['compressed', 'identity'] as const) {
      const g = loads[`gateway ${mode} ${network}`];
      const n = loads[`nginx ${mode} ${network}`];
      const label = mode === 'compressed' ? 'compressed (gateway br, nginx gzip)' : 'uncompressed (Accept-Encoding: identity)';
      rows.push({
        figure: '7',
        what: `${report}, ${network}, ${label}, ms`,
        value: median(g.map((l) => l.ms)),
        unit: 'ms',
        baseline: { what: 'nginx static, same files', value: median(n.map((l) => l.ms)) },
        target: '(reference)',
        detail: { gateway: detail(`gateway ${mode} ${network}`), nginx: detail(`nginx ${mode} ${network}`) },
      });
    }
  }
  for (const mode of ['compressed', 'identity'] as const) {
    rows.push({
      figure: '7',
      what: `the same, bytes over the wire (CDP encodedDataLength, loopback), ${mode}`,
      value: median(loads[`gateway ${mode} loopback`].map((l) => l.bytes)) / 1024,
      unit: 'KiB',
      baseline: { what: 'nginx static, same files', value: median(loads[`nginx ${mode} loopback`].map((l) => l.bytes)) / 1024 },
      target: '(reference)',
    });
  }
  return rows;
}
