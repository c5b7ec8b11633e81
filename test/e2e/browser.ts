/**
 * Headless Chromium from Debian (/usr/bin/chromium) driven by playwright-core. It trusts the dev
 * CA the way a developer's browser would, through an NSS database in a HOME of its own (no
 * ignoreHTTPSErrors: a certificate that does not validate fails the test), resolves the test
 * domains to 127.0.0.1 and nothing else, and is kept off the network (no updates, sync, QUIC).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { HOST_RESOLVER_RULES, type Stack } from './stack';

const run = promisify(execFile);
export const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = resolve(__dirname, '../../test-results/e2e');

export interface E2eBrowser {
  browser: Browser;
  /** Runs `fn` in a fresh context (own cookies, storage, HSTS state); screenshots the page if it throws. */
  withPage<T>(fn: (page: Page, context: BrowserContext) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function launchBrowser(caPath: string): Promise<E2eBrowser> {
  const home = await mkdtemp(join(tmpdir(), 'agw-e2e-chromium-'));
  let browser: Browser | undefined;
  try {
    const nssdb = `sql:${join(home, '.pki', 'nssdb')}`;
    await mkdir(join(home, '.pki', 'nssdb'), { recursive: true });
    await run('certutil', ['-d', nssdb, '-N', '--empty-password']);
    // C,,: a CA trusted to issue server certificates, as `Settings > Certificates > Authorities` does
    await run('certutil', ['-d', nssdb, '-A', '-t', 'C,,', '-n', 'artifact-gateway e2e dev CA', '-i', caPath]);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: tmpdir() },
      // playwright gives it a fresh --user-data-dir of its own, removed on close
      args: [
        '--no-sandbox', // root in CI
        '--headless',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--no-proxy-server',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-domain-reliability',
        `--host-resolver-rules=${HOST_RESOLVER_RULES}`,
      ],
    });
  } catch (err) {
    await rm(home, { recursive: true, force: true });
    throw err;
  }
  const b = browser;
  return {
    browser: b,
    async withPage(fn) {
      const context = await b.newContext();
      const page = await context.newPage();
      try {
        return await fn(page, context);
      } catch (err) {
        const name = (expect.getState().currentTestName ?? 'e2e').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 120);
        await mkdir(SCREENSHOTS, { recursive: true });
        const path = join(SCREENSHOTS, `${name}.png`);
        await page.screenshot({ path, fullPage: true }).then(
          () => process.stderr.write(`screenshot of the failed page: ${path} (${page.url()})\n`),
          () => undefined,
        );
        throw err;
      } finally {
        await context.close();
      }
    },
    async close() {
      try {
        await b.close();
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
  };
}

/** A suite's afterAll: the browser closed, then the stack stopped, even when closing failed. */
export async function closeAll(browser: E2eBrowser | undefined, stack: Stack | undefined): Promise<void> {
  try {
    await browser?.close();
  } finally {
    await stack?.stop();
  }
}
