/**
 * End to end, people signing in with the organisation's login: the real OpenID provider's HTML
 * forms in headless Chromium, the gateways behind nginx with TLS, the private report reached
 * through /login, the provider, the callback and the origin's /_auth; refused for a person
 * outside the viewer policy; and signed out again.
 */
import type { Page } from 'playwright-core';
import { closeAll, launchBrowser, type E2eBrowser } from './browser';
import { API_HOST, explain, startStack, type Stack } from './stack';

// functions given to page.evaluate run in the browser; the project compiles without the DOM lib
declare const document: any;

jest.setTimeout(90_000);

const SECRET = 'e2e/people'; // private: not in PUBLIC_PROJECTS
const SESSION = '__Host-agw_session';
const LOGIN = '__Host-agw_login';

let stack: Stack;
let browser: E2eBrowser;

beforeAll(async () => {
  stack = await startStack({ people: true });
  await stack.upload(SECRET, '1', { 'index.html': '<!doctype html><meta charset="utf-8"><title>people</title><h1 id="h">the people report</h1>' });
  browser = await launchBrowser(stack.caPath);
}, 180_000);

afterAll(() => closeAll(browser, stack), 60_000);

/** Signs in at the provider's own pages: its login form, then its consent form. */
async function signInAtProvider(page: Page, login: string): Promise<void> {
  await page.waitForURL((u) => u.toString().startsWith(stack.provider!.issuer), { timeout: 15_000 });
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password');
  await Promise.all([page.waitForURL((u) => u.toString().includes('/interaction/'), { timeout: 15_000 }), page.click('button[type="submit"]')]);
  // consent: "Continue"
  await page.click('button[type="submit"]');
}

describe('people sign in with the organisation login, in a real browser', () => {
  it('signs a person in through the provider to the private report, refuses one outside the policy, and logs out', async () => {
    const origin = stack.origin(SECRET);
    try {
      await browser.withPage(async (page, context) => {
        await page.goto(`${origin}/1/`);
        await signInAtProvider(page, 'alice');
        await page.waitForURL(`${origin}/1/`, { timeout: 15_000 });
        await page.waitForFunction(() => document.getElementById('h')?.textContent === 'the people report', undefined, { timeout: 15_000 });
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === SESSION)!;
        expect(session.domain).toBe(new URL(origin).hostname);
        expect([session.secure, session.httpOnly, session.sameSite]).toEqual([true, true, 'Lax']);
        expect(cookies.find((c) => c.name === LOGIN)?.domain).toBe(API_HOST);

        // log out: the origin's cookie, then the API host's, then the provider's end-session page
        await page.goto(`${origin}/_logout`);
        await page.waitForURL((u) => u.toString().startsWith(`${stack.provider!.issuer}/session/end`), { timeout: 15_000 });
        expect((await context.cookies()).filter((c) => c.name === SESSION || c.name === LOGIN)).toEqual([]);
        // the provider asks before ending its own session; until then it would sign her in again silently
        await Promise.all([page.waitForNavigation({ timeout: 15_000 }), page.click('button[name="logout"][value="yes"]')]);
        await page.goto(`${origin}/1/`);
        await page.waitForSelector('input[name="login"]', { timeout: 15_000 });
        expect(page.url().startsWith(stack.provider!.issuer)).toBe(true);
      });

      await browser.withPage(async (page, context) => {
        await page.goto(`${origin}/1/`);
        await signInAtProvider(page, 'mallory');
        await page.waitForURL((u) => u.toString().startsWith(`${stack.apiOrigin}/login/callback`), { timeout: 15_000 });
        await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'No access', undefined, { timeout: 15_000 });
        expect(await page.textContent('body')).toContain('You are signed in as mallory@example.org, who may not view the artifacts of e2e/people.');
        expect((await context.cookies()).filter((c) => c.name === SESSION || c.name === LOGIN)).toEqual([]);
      });
    } catch (err) {
      explain(stack, err);
    }
  });
});
