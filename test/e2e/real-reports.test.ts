/**
 * Real reports, made by their real tools in this run, uploaded by the real `upload` command, and
 * opened unmodified in Chromium through nginx with TLS, on a public and on a private project:
 * each must render with no console error, no failed request and no CSP violation. The Playwright
 * report is followed into its trace viewer, down to a DOM snapshot in the snapshot frame.
 *
 * Generation runs in child processes while the stack starts. Measured alone on a 2-core machine:
 * Playwright ~9 s, Vitest ~3.5 s, Jest ~3 s, c8 ~2.5 s, newman ~5 s.
 *
 * CI has no internet: Vitest's report (Google Fonts) and newman's htmlextra (Bootstrap, jQuery,
 * DataTables, Font Awesome… from cdnjs and others) get their CDN files from cdn.ts, which answers
 * inside Chromium from the same libraries installed as packages. The CSP is enforced by the
 * renderer before a request is intercepted, so these pages still prove the policy lets them load.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { originLabel } from '../../src/artifacts/labels';
import { EMPTY_MANIFEST } from '../../src/auth/viewer-session';
import { runCli } from '../support/cli';
import { makePlaywrightReport, PLAYWRIGHT_TESTS } from '../support/reports/playwright-report';
import { makeCoverageReport, makeJestReport, makeNewmanReport, makeVitestReport, UNIT_TESTS } from '../support/reports/other-reports';
import { closeAll, launchBrowser, type E2eBrowser } from './browser';
import { serveCdn } from './cdn';
import { startStack, type Stack } from './stack';

// functions given to page.evaluate run in the browser; the project compiles without the DOM lib
declare const document: any;

jest.setTimeout(90_000);

const PUBLIC = 'e2e/alpha';
const PRIVATE = 'e2e/reports'; // not in PUBLIC_PROJECTS
const STRICT = 'e2e/strict'; // public, with the strict content policy
const TEST_HOSTS = resolve(__dirname, 'test-hosts.js');

const GENERATORS: Record<string, (dir: string) => Promise<void>> = {
  playwright: makePlaywrightReport,
  vitest: makeVitestReport,
  jest: makeJestReport,
  coverage: makeCoverageReport,
  newman: makeNewmanReport,
};

let stack: Stack;
let browser: E2eBrowser;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'agw-real-reports-'));
  const reports = join(work, 'reports');
  const took: string[] = [];
  const made = Promise.all(
    Object.entries(GENERATORS).map(async ([name, make]) => {
      const start = Date.now();
      await make(join(reports, name));
      took.push(`${name} ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }),
  );
  const started = startStack({ env: { PUBLIC_PROJECTS: `e2e/alpha,e2e/beta,${STRICT}`, STRICT_CONTENT_PROJECTS: STRICT } });
  // both settle before either failure is thrown: a started stack is always stopped by afterAll
  const [ready, generated] = await Promise.allSettled([started, made]);
  if (ready.status === 'fulfilled') stack = ready.value;
  for (const r of [ready, generated]) if (r.status === 'rejected') throw r.reason;
  process.stderr.write(`real reports generated (in parallel with the stack starting): ${took.join(', ')}\n`);
  for (const project of [PUBLIC, PRIVATE, STRICT]) {
    // the real command (one bundle), by name through nginx, trusting the dev CA like any client
    const r = await runCli(['upload', '--project', project, '--build', '1', reports], {
      ARTIFACT_GATEWAY_URL: stack.apiOrigin,
      ARTIFACT_GATEWAY_TOKEN: await stack.token(project, '1'),
      NODE_EXTRA_CA_CERTS: stack.caPath,
      NODE_OPTIONS: `--require ${TEST_HOSTS}`,
    });
    if (r.code !== 0) throw new Error(`upload to ${project}: ${r.code} ${r.stderr}`);
  }
  browser = await launchBrowser(stack.caPath);
}, 240_000);

afterAll(async () => {
  try {
    await closeAll(browser, stack);
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
}, 60_000);

interface Problems {
  console: string[];
  failed: string[];
  violations: string[];
}

/** Requests of a context still waiting for their response body, by request. */
type InFlight = Map<Request, number>;

/**
 * Resolves once no request of the context has been in flight for half a second; on timeout,
 * fails naming the requests still waiting and for how long, where Playwright's 'networkidle'
 * would only say it timed out.
 */
async function settled(inFlight: InFlight, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = inFlight.size === 0 ? Date.now() : Infinity;
  for (;;) {
    if (inFlight.size > 0) quietSince = Infinity;
    else if (quietSince === Infinity) quietSince = Date.now();
    if (Date.now() - quietSince >= 500) return;
    if (Date.now() > deadline) {
      const waiting = [...inFlight].map(([r, since]) => `${r.method()} ${r.url()} (${r.resourceType()}, ${Date.now() - since} ms)`);
      throw new Error(`requests still in flight after ${timeoutMs} ms:\n  ${waiting.join('\n  ')}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** Everything that went wrong in a context: console errors, page errors, failed or refused requests, CSP violations. */
async function watch(context: BrowserContext): Promise<{ problems: Problems; settle: () => Promise<void> }> {
  const problems: Problems = { console: [], failed: [], violations: [] };
  const inFlight: InFlight = new Map();
  context.on('request', (r) => inFlight.set(r, Date.now()));
  context.on('requestfinished', (r) => inFlight.delete(r));
  context.on('requestfailed', (r) => inFlight.delete(r));
  context.on('console', (m) => m.type() === 'error' && problems.console.push(`${m.text()} (${m.location().url})`));
  context.on('weberror', (e) => problems.console.push(`page error: ${e.error().message}`));
  // net::ERR_ABORTED is the browser cancelling what a page it leaves (or re-renders) no longer
  // needs, not a failure; refused (ERR_BLOCKED_BY_CSP), unreachable or untrusted requests are
  context.on('requestfailed', (r) => r.failure()?.errorText !== 'net::ERR_ABORTED' && problems.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  context.on('response', (r) => r.status() >= 400 && problems.failed.push(`${r.url()}: ${r.status()}`));
  await context.exposeBinding('agwViolation', (_source, text: string) => void problems.violations.push(text));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e: any) => (globalThis as any).agwViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { problems, settle: () => settled(inFlight) };
}

/** Signs this context in to the private project through a viewer ticket, as a CI link does. */
async function signIn(page: Page, project: string): Promise<void> {
  const ticket = await runCli(['ticket', '--project', project, '--build', '1', '--viewer', 'e2e'], stack.gatewayEnv);
  expect(ticket.code).toBe(0);
  expect((await page.goto(ticket.stdout.trim()))!.status()).toBe(200);
}

/** Waits until every text shows somewhere in the page. */
async function showsAll(page: Page, texts: string[]): Promise<void> {
  for (const text of texts) await page.getByText(text, { exact: true }).first().waitFor({ timeout: 20_000 });
}

/** Waits until a web font of this family has loaded in the page. */
async function fontLoaded(page: Page, family: string): Promise<void> {
  await page.waitForFunction(
    (f) => Array.from(document.fonts as Iterable<{ family: string; status: string }>).some((face) => face.family.includes(f) && face.status === 'loaded'),
    family,
    { timeout: 20_000 },
  );
}

/** Opens a report under base and checks it; settle waits for the page's requests to finish. */
type Check = (page: Page, base: string, settle: () => Promise<void>) => Promise<void>;

const CHECKS: Record<string, Check> = {
  async playwright(page, base, settle) {
    await page.goto(`${base}/playwright/index.html`);
    await showsAll(page, PLAYWRIGHT_TESTS);
    await page.getByText(PLAYWRIGHT_TESTS[1], { exact: true }).first().click();
    // leaving a page cancels what it still loads (ERR_ABORTED), which would count as a failure
    await settle();
    await page.locator('a[href*="trace/index.html"]').first().click();
    await page.waitForURL(/\/trace\/index\.html/);
    await page.getByText('Click', { exact: false }).first().click();
    const snapshot = page.frameLocator('iframe.snapshot-visible[name=snapshot]');
    await snapshot.locator('#title').waitFor({ timeout: 20_000 });
    expect(await snapshot.locator('#title').textContent()).toBe('Fixture shop');
    // the snapshot's own styles rendered too
    expect(await snapshot.locator('#total').evaluate((e) => (globalThis as any).getComputedStyle(e).color)).toBe('rgb(0, 96, 0)');
    // the viewer's <link rel=manifest>, fetched when asked for (Page.getAppManifest) and without
    // cookies: on a private project the fixed empty manifest (no 401, no error), else the file
    const fetched = page.waitForResponse((r) => r.request().resourceType() === 'manifest', { timeout: 20_000 });
    const manifest = (await (await page.context().newCDPSession(page)).send('Page.getAppManifest')) as { errors: unknown[]; data?: string };
    expect(manifest.errors).toEqual([]);
    const res = await fetched;
    expect(res.status()).toBe(200);
    if (base.includes(originLabel(PRIVATE))) expect(await res.text()).toBe(EMPTY_MANIFEST);
    else expect(JSON.parse(manifest.data!)).toMatchObject({ name: expect.any(String) });
  },
  async vitest(page, base) {
    await page.goto(`${base}/vitest/index.html`);
    await showsAll(page, UNIT_TESTS);
    // its font, from Google Fonts
    await fontLoaded(page, 'Readex Pro');
  },
  async jest(page, base) {
    await page.goto(`${base}/jest/index.html`);
    await showsAll(page, ['/prices.test.js']);
    await page.locator('.ant-table-row-expand-icon').first().click();
    await showsAll(
      page,
      UNIT_TESTS.map((name) => `prices > ${name}`),
    );
  },
  async coverage(page, base, settle) {
    await page.goto(`${base}/coverage/index.html`);
    await showsAll(page, ['prices.cjs', '75%']);
    await settle();
    await page.getByText('prices.cjs', { exact: true }).click();
    await page.waitForURL(/prices\.cjs\.html$/);
    await page.getByText('negative price', { exact: false }).first().waitFor({ timeout: 20_000 });
  },
  async newman(page, base) {
    await page.goto(`${base}/newman/index.html`);
    await showsAll(page, ['Newman Run Dashboard']);
    // Bootstrap's tabs (its script), then each request's card
    await page.click('#pills-requests-tab');
    await showsAll(
      page,
      UNIT_TESTS.map((name) => `Iteration: 1 - ${name}`),
    );
    // Bootstrap's, DataTables' and Font Awesome's files, from their CDNs
    expect(await page.evaluate(() => typeof (globalThis as any).jQuery?.fn?.dataTable)).toBe('function');
    expect(await page.evaluate(() => typeof (globalThis as any).jQuery?.fn?.modal)).toBe('function');
    await fontLoaded(page, 'Font Awesome 5 Free');
  },
};

describe.each([
  ['public', PUBLIC],
  ['private', PRIVATE],
])('real reports on a %s project, in Chromium through nginx', (kind, project) => {
  it.each(Object.keys(CHECKS))('renders the %s report with no console error, failed request or CSP violation', async (report) => {
    await browser.withPage(async (page, context) => {
      await serveCdn(context);
      const { problems, settle } = await watch(context);
      if (kind === 'private') await signIn(page, project);
      await CHECKS[report](page, `${stack.origin(project)}/1`, settle);
      await settle();
      expect(problems).toEqual({ console: [], failed: [], violations: [] });
    });
  });
});

describe('the strict content policy (STRICT_CONTENT_PROJECTS)', () => {
  it("refuses newman's CDN stylesheets, scripts and fonts: the renderer blocks them before any request", async () => {
    await browser.withPage(async (page, context) => {
      const cdnRequests = await serveCdn(context);
      const { problems, settle } = await watch(context);
      const res = (await page.goto(`${stack.origin(STRICT)}/1/newman/index.html`))!;
      expect(res.headers()['content-security-policy']).toContain("style-src 'self' 'unsafe-inline';");
      await showsAll(page, UNIT_TESTS);
      await settle();
      expect(cdnRequests).toEqual([]);
      expect(problems.violations).toEqual(
        expect.arrayContaining([
          'style-src-elem https://stackpath.bootstrapcdn.com/bootstrap/4.1.3/css/bootstrap.min.css',
          'script-src-elem https://cdnjs.cloudflare.com/ajax/libs/jquery/3.5.1/jquery.min.js',
        ]),
      );
      expect(await page.evaluate(() => typeof (globalThis as any).jQuery)).toBe('undefined');
    });
  });
});

describe("a private project's web app manifest without a session", () => {
  const path = '/1/playwright/trace/manifest.webmanifest';
  let real: Buffer;
  beforeAll(async () => {
    real = await readFile(join(work, 'reports/playwright/trace/manifest.webmanifest'));
  });

  it.each([
    ["a browser's manifest request", { 'sec-fetch-dest': 'manifest', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }],
    ["the same passed on by the trace viewer's service worker", { 'sec-fetch-dest': 'empty', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }],
    ['Sec-Fetch-Dest: manifest alone', { 'sec-fetch-dest': 'manifest' }],
    ['a forged session cookie', { 'sec-fetch-dest': 'manifest', cookie: '__Host-agw_session=forged' }],
    ['no Sec-Fetch headers', {}],
    ['a navigation', { 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', accept: 'text/html' }],
  ])('answers %s with the fixed empty manifest, never the file', async (_name, headers) => {
    const res = await stack.fetch(`${stack.origin(PRIVATE)}${path}`, { headers });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/manifest+json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.body.toString()).toBe(EMPTY_MANIFEST);
    expect(res.body.includes(real)).toBe(false);
  });

  it('serves the real file to a signed-in viewer and on a public project', async () => {
    expect(real.length).toBeGreaterThan(EMPTY_MANIFEST.length);
    const manifestRequest = { 'sec-fetch-dest': 'manifest', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };
    expect((await stack.fetch(`${stack.origin(PUBLIC)}${path}`, { headers: manifestRequest })).body).toEqual(real);
    const ticket = await runCli(['ticket', '--project', PRIVATE, '--build', '1', '--viewer', 'e2e'], stack.gatewayEnv);
    const signedIn = await stack.fetch(ticket.stdout.trim());
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0];
    const res = await stack.fetch(`${stack.origin(PRIVATE)}${path}`, { headers: { ...manifestRequest, cookie } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(real);
  });
});
