/**
 * Compression end to end: a real Playwright HTML report with traces (written by @playwright/test
 * itself) is uploaded, and headless Chromium opens it and one of its traces through nginx with
 * TLS. The report's HTML and scripts arrive compressed by the gateway and render; nginx passes
 * the gateway's coding and ETags through untouched on artifact origins and gzips only the API's
 * JSON, so nothing is compressed twice.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Response } from 'playwright-core';
import { makePlaywrightReport, PLAYWRIGHT_TESTS } from '../support/reports/playwright-report';
import { closeAll, launchBrowser, type E2eBrowser } from './browser';
import { explain, startStack, type Stack } from './stack';

jest.setTimeout(90_000);

const PROJECT = 'e2e/alpha'; // public
const CHROMIUM_LIKE = 'gzip, deflate, br, zstd';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let stack: Stack;
let browser: E2eBrowser;
let report: Record<string, Buffer>;
let trace: string;

async function walk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) files.push(...(await walk(join(dir, e.name))));
    else files.push(join(dir, e.name));
  }
  return files;
}

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'agw-e2e-pw-'));
  try {
    await makePlaywrightReport(dir);
    report = {};
    for (const file of await walk(dir)) report[`pw/${relative(dir, file)}`] = await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  trace = Object.keys(report).find((p) => p.startsWith('pw/data/') && p.endsWith('.zip'))!;
  expect(trace).toBeDefined();
  stack = await startStack();
  await stack.upload(PROJECT, '1', report);
  browser = await launchBrowser(stack.caPath);
}, 240_000);

afterAll(() => closeAll(browser, stack), 60_000);

describe('a Playwright report in Chromium through nginx', () => {
  it('arrives brotli-compressed, HTML and scripts, and renders its tests and a trace', async () => {
    await browser
      .withPage(async (page) => {
        const problems: string[] = [];
        page.on('pageerror', (e) => problems.push(e.message));
        const responses: Response[] = [];
        page.on('response', (r) => responses.push(r));
        const origin = stack.origin(PROJECT);

        await page.goto(`${origin}/1/pw/index.html`);
        for (const title of PLAYWRIGHT_TESTS) await page.getByText(title).first().waitFor({ timeout: 30_000 });

        await page.goto(`${origin}/1/pw/trace/index.html?trace=${encodeURIComponent(`${origin}/1/${trace}`)}`);
        await page.locator('.action-title').first().waitFor({ timeout: 30_000 });
        expect(await page.locator('.action-title').count()).toBeGreaterThan(0);
        expect(problems).toEqual([]);

        const headersOf = async (suffix: string) => {
          const r = responses.find((x) => new URL(x.url()).pathname.endsWith(suffix));
          if (!r) throw new Error(`no response for ${suffix}: ${responses.map((x) => x.url()).join(', ')}`);
          return { status: r.status(), request: await r.request().allHeaders(), response: await r.allHeaders() };
        };
        const html = await headersOf('/1/pw/index.html');
        expect(html.request['accept-encoding']).toMatch(/\bbr\b/);
        expect(html.status).toBe(200);
        expect(html.response['content-encoding']).toBe('br');
        expect(html.response.vary).toMatch(/Accept-Encoding/);
        expect(html.response.etag).toBe(`W/"${sha(report['pw/index.html'])}-br"`);
        const bigScript = Object.keys(report)
          .filter((p) => p.startsWith('pw/trace/') && p.endsWith('.js'))
          .sort((a, b) => report[b].length - report[a].length)[0];
        const js = await headersOf(bigScript.slice(2));
        expect(js.response['content-encoding']).toBe('br');
        expect(js.response['content-type']).toMatch(/javascript/);
      })
      .catch((err) => explain(stack, err));
  });
});

describe('nginx and the gateway never compress the same answer twice', () => {
  it("passes the gateway's brotli body and weak per-coding ETag through unchanged", async () => {
    const res = await stack.fetch(`${stack.origin(PROJECT)}/1/pw/index.html`, { headers: { 'accept-encoding': CHROMIUM_LIKE } });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers.etag).toBe(`W/"${sha(report['pw/index.html'])}-br"`);
    expect(brotliDecompressSync(res.body)).toEqual(report['pw/index.html']);
  });

  it('leaves what the gateway sends as stored alone: a small page, a range, a zip, each with its strong ETag', async () => {
    const small = Object.keys(report).find((p) => p.endsWith('.html') && report[p].length < 1024)!;
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ['a page under 1 KiB', small, {}, 200],
      ['a range', 'pw/index.html', { range: 'bytes=0-99' }, 206],
      ['a trace zip', trace, { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }, 200],
    ];
    for (const [what, path, headers, status] of cases) {
      const res = await stack.fetch(`${stack.origin(PROJECT)}/1/${path}`, { headers: { 'accept-encoding': 'gzip', ...headers } });
      expect([what, res.status, res.headers['content-encoding']]).toEqual([what, status, undefined]);
      expect(res.headers.etag).toBe(`"${sha(report[path])}"`);
      expect(res.body).toEqual(status === 206 ? report[path].subarray(0, 100) : report[path]);
    }
  });

  it("gzips the API host's JSON, which the gateway leaves uncompressed, once", async () => {
    const token = await stack.token(PROJECT, '1');
    const url = `${stack.apiOrigin}/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/1/artifacts`;
    const plain = await stack.fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(1024);
    const gz = await stack.fetch(url, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': CHROMIUM_LIKE } });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toMatch(/Accept-Encoding/);
    expect(JSON.parse(gunzipSync(gz.body).toString())).toEqual(JSON.parse(plain.body.toString()));
  });
});
