/**
 * End to end, everything real on one machine: Ceph radosgw, two gateway instances on the s3
 * driver, nginx with TLS from the production templates and the dev certificates, and headless
 * Chromium that trusts the dev CA. What isolation promises is checked where it matters: in a
 * browser, across real origins, over real TLS.
 */
import { Agent } from 'node:https';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Page, Request, Response } from 'playwright-core';
import { runCli } from '../support/cli';
import { closeAll, launchBrowser, type E2eBrowser } from './browser';
import { API_HOST, ARTIFACT_DOMAIN, explain, startStack, type Stack } from './stack';
import { COOKIE_TOSSER, HEADING_COLOR, MULTI_FILE_REPORT, STORAGE_READER, STORAGE_WRITER } from './reports';

// functions given to page.evaluate run in the browser; the project compiles without the DOM lib
declare const document: any;
declare const location: { origin: string };
declare function getComputedStyle(element: unknown): { color: string; backgroundImage: string };

jest.setTimeout(60_000);
const curl = promisify(execFile);

const ALPHA = 'e2e/alpha'; // public
const BETA = 'e2e/beta'; // public
const SECRET = 'e2e/secret'; // private: not in PUBLIC_PROJECTS
const SESSION = '__Host-agw_session';

let stack: Stack;
let browser: E2eBrowser;

beforeAll(async () => {
  stack = await startStack();
  await stack.upload(ALPHA, '1', { ...MULTI_FILE_REPORT, 'storage/write.html': STORAGE_WRITER, 'storage/read.html': STORAGE_READER });
  await stack.upload(BETA, '1', { 'storage/read.html': STORAGE_READER, 'tosser.html': COOKIE_TOSSER(ARTIFACT_DOMAIN) });
  await stack.upload(SECRET, '1', { 'index.html': '<!doctype html><meta charset="utf-8"><title>secret</title><h1 id="h">the secret report</h1>' });
  browser = await launchBrowser(stack.caPath);
}, 180_000);

afterAll(() => closeAll(browser, stack), 60_000);

/** Waits until `selector` shows exactly `text`; on timeout, says what it showed instead. */
async function shows(page: Page, selector: string, text: string): Promise<void> {
  try {
    await page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want, [selector, text], { timeout: 15_000 });
  } catch {
    throw new Error(`${selector} shows ${JSON.stringify(await page.textContent(selector).catch(() => null))}, not ${JSON.stringify(text)} (${page.url()})`);
  }
}

/** JSON a test page printed into #out, once it is no longer "pending". */
async function output(page: Page): Promise<Record<string, unknown>> {
  await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'pending');
  const text = (await page.textContent('#out'))!;
  return text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text };
}

describe('isolation in a real browser, through nginx with TLS', () => {
  it("keeps project A's localStorage, IndexedDB and cookies from project B's report", async () => {
    await browser
      .withPage(async (page) => {
        const a = stack.origin(ALPHA);
        const b = stack.origin(BETA);
        expect(new URL(a).hostname).not.toBe(new URL(b).hostname);

        await page.goto(`${a}/1/storage/write.html`);
        expect(await output(page)).toEqual({ text: 'written' });

        // control: the reader sees all three on A's own origin, so "nothing" on B means isolation
        await page.goto(`${a}/1/storage/read.html`);
        const onA = await output(page);
        expect(onA).toMatchObject({ local: `local-${new URL(a).hostname}`, databases: ['agw-e2e'], idb: `idb-${new URL(a).hostname}` });
        expect(onA.cookie).toContain('agw_secret=cookie-');

        await page.goto(`${b}/1/storage/read.html`);
        expect(await output(page)).toEqual({ local: null, cookie: '', databases: [], idb: null });
      })
      .catch((err) => explain(stack, err));
  });

  it('renders a multi-file report completely: styles, images, script and the JSON it fetches', async () => {
    await browser
      .withPage(async (page) => {
        const problems: string[] = [];
        page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
        page.on('pageerror', (e) => problems.push(e.message));
        const responses: Response[] = [];
        page.on('response', (r) => responses.push(r));
        const a = stack.origin(ALPHA);

        await page.goto(`${a}/1/report/`, { waitUntil: 'load' });
        await shows(page, '#status', 'loaded 3 suites');
        await page.waitForLoadState('networkidle');

        expect(await page.locator('#title').evaluate((h) => getComputedStyle(h).color)).toBe(HEADING_COLOR);
        expect(await page.locator('#suites tr').count()).toBe(3);
        expect(await page.locator('#suites tr').first().textContent()).toBe('storage41 passed');
        const images = await page.evaluate(() =>
          Array.from(document.images as ArrayLike<{ id: string; complete: boolean; naturalWidth: number; naturalHeight: number }>, (i) => ({
            id: i.id,
            complete: i.complete,
            width: i.naturalWidth,
            height: i.naturalHeight,
          })),
        );
        expect(images).toEqual([
          { id: 'logo', complete: true, width: 64, height: 32 },
          { id: 'badge', complete: true, width: 90, height: 20 },
        ]);
        // the stylesheet's relative url() resolved on the origin, then went to storage and decoded
        expect(await page.locator('#swatch').evaluate((d) => getComputedStyle(d).backgroundImage)).toBe(`url("${a}/1/report/img/swatch.png")`);

        // each request for a file, with the redirects it was sent through: "origin status" per hop
        const seen = async (path: string) => {
          const first = responses.filter((r) => r.url() === `${a}/1/report/${path}`);
          const hops: string[] = [];
          for (let request: Request | null = first[0]?.request() ?? null; request; request = request.redirectedTo()) {
            hops.push(`${new URL(request.url()).origin} ${(await request.response())?.status()}`);
          }
          return [first.length, ...hops];
        };
        // passive images: 302 from the project's origin to a presigned https URL on the storage origin
        expect(await seen('img/logo.png')).toEqual([1, `${a} 302`, `${stack.s3Origin} 200`]);
        expect(await seen('img/swatch.png')).toEqual([1, `${a} 302`, `${stack.s3Origin} 200`]);
        // the report's own script, style and data: streamed from its origin, no redirect
        expect(await seen('js/report.js')).toEqual([1, `${a} 200`]);
        expect(await seen('css/report.css')).toEqual([1, `${a} 200`]);
        expect(await seen('data/results.json')).toEqual([1, `${a} 200`]);
        expect(await seen('img/badge.svg')).toEqual([1, `${a} 200`]);
        // no CSP violation, mixed content or script error on the way
        expect(problems.filter((p) => !/favicon/.test(p))).toEqual([]);
      })
      .catch((err) => explain(stack, err));
  });

  it('follows a PNG link to its presigned https URL and shows it; an SVG runs on the project origin, never on storage', async () => {
    await browser
      .withPage(async (page) => {
        const a = stack.origin(ALPHA);
        await page.goto(`${a}/1/report/links.html`);
        await Promise.all([page.waitForURL((u) => u.origin === stack.s3Origin, { waitUntil: 'load' }), page.click('#chart')]);
        expect(new URL(page.url()).origin).toBe(stack.s3Origin);
        expect(new URL(page.url()).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
        expect(await page.evaluate(() => ({ type: document.contentType, w: document.images[0]?.naturalWidth, h: document.images[0]?.naturalHeight }))).toEqual({
          type: 'image/png',
          w: 120,
          h: 80,
        });

        const storageRequests: string[] = [];
        page.on('request', (r) => r.url().startsWith(stack.s3Origin) && storageRequests.push(r.url()));
        const svg = (await page.goto(`${a}/1/report/img/drawing.svg`))!;
        expect(svg.status()).toBe(200);
        expect(svg.request().redirectedFrom()).toBeNull();
        expect(page.url()).toBe(`${a}/1/report/img/drawing.svg`);
        expect(await svg.headerValue('content-security-policy')).toMatch(/default-src 'self'/);
        await shows(page, '#where', a);
        expect(await page.evaluate(() => location.origin)).toBe(a);
        expect(storageRequests).toEqual([]);
      })
      .catch((err) => explain(stack, err));
  });

  it('lets a viewer into a private project only with a ticket, and keeps the session cookie on that origin', async () => {
    await browser
      .withPage(async (page, context) => {
        const secret = stack.origin(SECRET);
        const beta = stack.origin(BETA);

        const refused = (await page.goto(`${secret}/1/`))!;
        expect(refused.status()).toBe(401);
        expect(await page.textContent('body')).toMatch(/private/);

        const ticket = await runCli(['ticket', '--project', SECRET, '--build', '1', '--viewer', 'e2e'], stack.gatewayEnv);
        expect(ticket.code).toBe(0);
        const link = ticket.stdout.trim();
        expect(link.startsWith(`${secret}/_auth?ticket=`)).toBe(true);
        const landed = (await page.goto(link))!;
        expect(landed.status()).toBe(200);
        expect(page.url()).toBe(`${secret}/1/`);
        await shows(page, '#h', 'the secret report');

        const sessions = (await context.cookies(secret)).filter((c) => c.name === SESSION);
        expect(sessions).toHaveLength(1);
        const session = sessions[0];
        expect(session).toMatchObject({ domain: new URL(secret).hostname, path: '/', httpOnly: true, secure: true, sameSite: 'Lax' });

        // another project's origin never receives it, and its page cannot replace it
        const onBeta = (await page.goto(`${beta}/1/tosser.html`))!;
        expect((await onBeta.request().allHeaders()).cookie ?? '').not.toContain(SESSION);
        expect(await output(page)).toEqual({ cookie: `${SESSION}=forged-here` });

        const again = (await page.goto(`${secret}/1/`))!;
        expect(again.status()).toBe(200);
        expect((await again.request().allHeaders()).cookie).toBe(`${SESSION}=${session.value}`);
        expect((await context.cookies(secret)).filter((c) => c.name.toLowerCase() === SESSION.toLowerCase())).toEqual([session]);

        // and the session is worth nothing in another browser
        const other = await browser.browser.newContext();
        try {
          expect((await (await other.newPage()).goto(`${secret}/1/`))!.status()).toBe(401);
        } finally {
          await other.close();
        }
      })
      .catch((err) => explain(stack, err));
  });

  it('redirects plain HTTP to HTTPS and serves a certificate that validates against the dev CA', async () => {
    await browser
      .withPage(async (page) => {
        const a = stack.origin(ALPHA);
        const host = new URL(a).hostname;
        const res = (await page.goto(`http://${host}:${stack.httpPort}/1/report/?from=http`))!;
        expect(page.url()).toBe(`${a}/1/report/?from=http`);
        const hop = res.request().redirectedFrom()!;
        expect(hop.url()).toBe(`http://${host}:${stack.httpPort}/1/report/?from=http`);
        expect((await hop.response())!.status()).toBe(301);
        const tls = (await res.securityDetails())!;
        expect(tls.protocol).toBe('TLS 1.3');
        expect(tls.issuer).toMatch(/^artifact-gateway dev CA/);
        expect(tls.subjectName).toBe(API_HOST);
        expect(await res.headerValue('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
      })
      .catch((err) => explain(stack, err));

    const resolve = [API_HOST, new URL(stack.origin(ALPHA)).hostname].flatMap((h) => [
      '--resolve',
      `${h}:${stack.httpsPort}:127.0.0.1`,
      '--resolve',
      `${h}:${stack.httpPort}:127.0.0.1`,
    ]);
    const health = `${stack.apiOrigin}/healthz`;
    const ok = await curl('curl', ['-sS', '--fail', '-D', '-', '--cacert', stack.caPath, ...resolve, health]);
    expect(ok.stdout).toMatch(/^HTTP\/2 200/);
    expect(ok.stdout).toMatch(/^server: nginx\r$/m); // no version
    expect(ok.stdout).toMatch(/^strict-transport-security: max-age=63072000; includeSubDomains\r$/m);
    expect(ok.stdout).toMatch(/"status":"ok"/);
    // the gateway (TRUST_PROXY=true) took nginx's request id: one id in both logs
    const requestId = /^x-request-id: ([0-9a-f]{32})\r$/m.exec(ok.stdout)?.[1];
    expect(await stack.accessLog()).toContain(`id=${requestId} `);

    const redirect = await curl('curl', [
      ...['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}'],
      ...resolve,
      `http://${API_HOST}:${stack.httpPort}/healthz?x=1`,
    ]);
    expect(redirect.stdout).toBe(`301 ${stack.apiOrigin}/healthz?x=1`);

    // the same certificate without the CA: curl refuses it (60), so the check above was real
    await expect(curl('curl', ['-sS', ...resolve, health])).rejects.toMatchObject({ code: 60 });
    // TLS 1.1 is refused by the server (even a client willing to use it gets no handshake)
    await expect(
      curl('curl', ['-sS', '--cacert', stack.caPath, '--tlsv1.1', '--tls-max', '1.1', '--ciphers', 'DEFAULT@SECLEVEL=0', ...resolve, health]),
    ).rejects.toMatchObject({ code: 35 });
    await expect(curl('curl', ['-sS', '--cacert', stack.caPath, '--tlsv1.2', '--tls-max', '1.2', ...resolve, health])).resolves.toBeDefined();
  });
});

describe('nginx in front of two gateway instances', () => {
  it('streams a large upload and download through without spooling them to disk', async () => {
    const body = Buffer.alloc(24 * 1024 * 1024, 'streamed through nginx\n');
    await stack.upload(BETA, '2', { 'big.html': body });
    const res = await stack.fetch(`${stack.origin(BETA)}/2/big.html`);
    expect(res.status).toBe(200);
    expect(res.body.equals(body)).toBe(true);
    // nginx warns whenever it writes a request or response body to a temporary file
    expect(stack.logs()).not.toMatch(/buffered to a temporary file/);
  });

  it('passes a restore URL longer than 8 KiB to the gateway, which answers it (not an nginx 414)', async () => {
    const token = await stack.token(ALPHA, '9');
    const keys = Array.from({ length: 10 }, (_, i) => `npm-${i}-${'k'.repeat(1100)}`).join(',');
    const res = await stack.fetch(`${stack.apiOrigin}/api/v1/projects/e2e%2Falpha/caches?keys=${keys}`, { headers: { authorization: `Bearer ${token}` } });
    // ten keys over the 512-character limit: the gateway's JSON 400 names the limit
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error.message).toMatch(/the limit is 512/);
  });

  it('loses no idempotent request while one instance is stopped', async () => {
    const a = stack.origin(ALPHA);
    const urls = [`${a}/1/report/`, `${a}/1/report/img/logo.png`, `${stack.apiOrigin}/healthz`];
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const failures: string[] = [];
    let sent = 0;
    let stoppedAt = Infinity;
    const started = Date.now();
    // bounded: until 1.5 s after the instance has exited, and never longer than 20 s or 20,000 requests
    const more = () => Date.now() < stoppedAt + 1500 && Date.now() - started < 20_000 && sent < 20_000;
    const worker = async () => {
      while (more()) {
        const url = urls[sent++ % urls.length];
        try {
          const res = await stack.fetch(url, { agent });
          const want = url.endsWith('.png') ? 302 : 200;
          if (res.status !== want) failures.push(`${url}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        } catch (err) {
          failures.push(`${url}: ${(err as Error).message}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const before = sent;
      const code = await stack.gateways[1].stop(); // SIGTERM: drains, then exits
      stoppedAt = Date.now();
      await load;
      expect(code).toBe(0);
      expect(before).toBeGreaterThan(50);
      expect(sent - before).toBeGreaterThan(50);
    } finally {
      stoppedAt = Math.min(stoppedAt, Date.now());
      await load;
      agent.destroy();
    }
    expect(failures).toEqual([]);

    // both instances served; once the stopped one refused connections, nginx sent those requests on
    const [gw1, gw2] = stack.gateways.map((g) => `127.0.0.1:${g.port}`);
    const log = await stack.accessLog();
    expect(log).toContain(`upstream=${gw1} `);
    expect(log).toContain(`upstream=${gw2} `);
    expect(log).toContain(`upstream=${gw2}, ${gw1} upstream_status=502, `);
  });
});
