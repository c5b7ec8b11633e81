/**
 * The public CDNs that real reports load their CSS, scripts and fonts from, answered inside
 * Chromium (Playwright's context.route) from the same libraries installed as devDependencies:
 * CI has no internet. The page's CSP is enforced by the renderer before a request leaves it, so
 * a request that reaches this handler is one the policy allowed: a refused one never does, and
 * shows as a violation instead.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BrowserContext, Route } from 'playwright-core';
import { lookup } from 'mime-types';

const pkg = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** URL prefix -> the package directory that holds the same files. */
const PREFIXES: Array<[string, () => string]> = [
  // newman-reporter-htmlextra 1.23.1
  ['https://stackpath.bootstrapcdn.com/bootstrap/4.1.3/', () => join(pkg('bootstrap-4.1.3'), 'dist/')],
  ['https://cdnjs.cloudflare.com/ajax/libs/twitter-bootstrap/4.2.1/', () => join(pkg('bootstrap'), 'dist/')],
  ['https://cdnjs.cloudflare.com/ajax/libs/jquery/3.5.1/', () => join(pkg('jquery'), 'dist/')],
  ['https://cdnjs.cloudflare.com/ajax/libs/font-awesome/5.13.0/', () => `${pkg('@fortawesome/fontawesome-free')}/`],
  ['https://cdnjs.cloudflare.com/ajax/libs/clipboard.js/2.0.0/', () => join(pkg('clipboard'), 'dist/')],
  ['https://cdnjs.cloudflare.com/ajax/libs/remarkable/1.7.1/', () => join(pkg('remarkable'), 'dist/')],
  // the report asks for 10.1.2; npm has the CDN build of 10.1.1 (the same API), not of 10.1.2
  ['https://cdnjs.cloudflare.com/ajax/libs/highlight.js/10.1.2/', () => `${pkg('@highlightjs/cdn-assets')}/`],
  // Vitest's report: Google Fonts' Readex Pro (the files @fontsource ships)
  ['https://fonts.gstatic.com/s/readexpro/', () => join(pkg('@fontsource/readex-pro'), 'files/')],
];

/** Files the CDN builds by concatenation (DataTables' download builder). */
const BUNDLES: Record<string, () => string[]> = {
  'https://cdn.datatables.net/v/bs4/dt-1.10.18/datatables.min.css': () => [join(pkg('datatables.net-bs4'), 'css/dataTables.bootstrap4.min.css')],
  'https://cdn.datatables.net/v/bs4/dt-1.10.18/datatables.min.js': () => [
    join(pkg('datatables.net'), 'js/jquery.dataTables.min.js'),
    join(pkg('datatables.net-bs4'), 'js/dataTables.bootstrap4.min.js'),
  ],
};

// Google Fonts answers css2 with @font-face rules it writes for the browser; this is that CSS for
// the one family and weights Vitest's report asks for, pointing at the real font files.
const READEX = (weight: number) => `@font-face {
  font-family: 'Readex Pro'; font-style: normal; font-weight: ${weight}; font-display: swap;
  src: url(https://fonts.gstatic.com/s/readexpro/readex-pro-latin-${weight}-normal.woff2) format('woff2');
}
`;
const GOOGLE_CSS: Record<string, string> = {
  'https://fonts.googleapis.com/css2?family=Readex+Pro:wght@300;400&display=swap': READEX(300) + READEX(400),
};

/** Every host this stand-in answers for. */
export const CDN_HOSTS = ['stackpath.bootstrapcdn.com', 'cdnjs.cloudflare.com', 'cdn.datatables.net', 'fonts.googleapis.com', 'fonts.gstatic.com'];

async function answer(route: Route, answered: string[]): Promise<void> {
  const url = route.request().url();
  answered.push(url);
  // CDNs answer with CORS for everything (fonts are fetched in CORS mode)
  const headers = { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=31536000' };
  if (GOOGLE_CSS[url] !== undefined) {
    return route.fulfill({ status: 200, headers: { ...headers, 'content-type': 'text/css; charset=utf-8' }, body: GOOGLE_CSS[url] });
  }
  const bundle = BUNDLES[url];
  const prefix = PREFIXES.find(([p]) => url.startsWith(p));
  const files = bundle ? bundle() : prefix ? [prefix[1]() + decodeURIComponent(new URL(url).pathname.slice(new URL(prefix[0]).pathname.length))] : undefined;
  // anything else is a URL this stand-in does not know: fail it loudly, as a failed request
  if (!files || files.some((f) => f.includes('..'))) return route.abort('namenotresolved');
  try {
    const body = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
    return await route.fulfill({ status: 200, headers: { ...headers, 'content-type': lookup(files[0]) || 'application/octet-stream' }, body });
  } catch {
    return route.fulfill({ status: 404, headers, body: 'not in the CDN stand-in' });
  }
}

/**
 * Answers the CDN hosts' requests in this context from the installed packages; returns the list
 * of URLs answered, which a request the CSP refused never joins.
 */
export async function serveCdn(context: BrowserContext): Promise<string[]> {
  const answered: string[] = [];
  await context.route(
    (url) => CDN_HOSTS.includes(url.hostname) && url.protocol === 'https:',
    (route) => answer(route, answered),
  );
  return answered;
}
