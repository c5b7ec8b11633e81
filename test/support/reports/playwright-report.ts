/**
 * A real Playwright HTML report with traces: the Playwright test runner (@playwright/test, the
 * version of playwright-core) runs a small fixture project in Debian's chromium with
 * `trace: 'on'`, and its HTML reporter writes index.html, data/ (the traces, screenshots) and
 * trace/ (the trace viewer and its service worker) into outDir.
 */
import { withFixture, runNode, packageFile, CHROMIUM } from './fixture';

/** The test titles the report lists, for a test to look for. */
export const PLAYWRIGHT_TESTS = ['shows the order summary', 'adds an item to the cart', 'filters the catalogue'];

const CONFIG = `
const { defineConfig } = require('@playwright/test');
module.exports = defineConfig({
  testDir: '.',
  testMatch: '*.pw.js',
  outputDir: process.env.PW_RESULTS,
  workers: 1,
  retries: 0,
  reporter: [['html', { outputFolder: process.env.PW_REPORT, open: 'never' }]],
  use: {
    browserName: 'chromium',
    headless: true,
    trace: 'on',
    screenshot: 'on',
    launchOptions: { executablePath: ${JSON.stringify(CHROMIUM)}, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] },
  },
});
`;

// Pages from setContent: the runner needs no server and the traces hold real DOM snapshots.
const SPEC = `
const { test, expect } = require('@playwright/test');

const SHOP = \`<!doctype html><html><head><title>Shop</title><style>
  body { font-family: sans-serif; } .item { border: 1px solid #888; padding: 4px; margin: 4px; }
  #total { color: rgb(0, 96, 0); font-weight: bold; }
</style></head><body>
  <h1 id="title">Fixture shop</h1>
  <div class="item" data-price="3">Apples</div><div class="item" data-price="5">Pears</div>
  <input id="filter" placeholder="filter"><button id="add">Add apples</button>
  <p>Total: <span id="total">0</span></p>
  <script>
    let total = 0;
    document.getElementById('add').onclick = () => { total += 3; document.getElementById('total').textContent = String(total); };
    document.getElementById('filter').oninput = (e) => {
      for (const el of document.querySelectorAll('.item')) el.hidden = !el.textContent.toLowerCase().includes(e.target.value.toLowerCase());
    };
  </script>
</body></html>\`;

test.beforeEach(async ({ page }) => { await page.setContent(SHOP); });

test(${JSON.stringify(PLAYWRIGHT_TESTS[0])}, async ({ page }) => {
  await expect(page.locator('#title')).toHaveText('Fixture shop');
  await expect(page.locator('#total')).toHaveText('0');
});

test(${JSON.stringify(PLAYWRIGHT_TESTS[1])}, async ({ page }) => {
  await test.step('click add twice', async () => {
    await page.click('#add');
    await page.click('#add');
  });
  await expect(page.locator('#total')).toHaveText('6');
});

test(${JSON.stringify(PLAYWRIGHT_TESTS[2])}, async ({ page }) => {
  await page.fill('#filter', 'pea');
  await expect(page.locator('.item:visible')).toHaveCount(1);
});
`;

/** Runs the fixture project with the real runner; the HTML report (with traces) lands in outDir. */
export async function makePlaywrightReport(outDir: string): Promise<void> {
  await withFixture('pw-report', { 'playwright.config.js': CONFIG, 'shop.pw.js': SPEC }, async (dir) => {
    await runNode([packageFile('@playwright/test', 'cli.js'), 'test', '--config', 'playwright.config.js'], dir, {
      PW_REPORT: outDir,
      PW_RESULTS: `${dir}/test-results`,
      PLAYWRIGHT_HTML_OPEN: 'never',
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
    });
  });
}
