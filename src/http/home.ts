/**
 * The API host's front door: `GET /` says what answers here (name, version) and where to go next
 * (the API's description, liveness, readiness), as a page for a browser and as JSON for a script;
 * `GET /openapi.yaml` serves that description (docs/openapi.yaml). A bare 404 at the root told
 * someone who typed the gateway's address into a browser nothing. Nothing here touches storage.
 */
import Router from '@koa/router';
import escapeHtml from 'escape-html';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../errors';
import type { RequestState } from './request-context';

export interface About {
  name: string;
  version: string;
  description: string;
}

// src/http/home.ts and dist/http/home.js both sit two levels below the package root
const ROOT = join(__dirname, '..', '..');

/** name, version and description from package.json, the one place they are written. */
export function readAbout(root = ROOT): About {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Partial<About>;
  return { name: pkg.name ?? 'artifact-gateway', version: pkg.version ?? 'unknown', description: pkg.description ?? '' };
}

const LINKS = [
  { rel: 'api', href: '/openapi.yaml', title: 'the HTTP API, described in OpenAPI 3.1' },
  { rel: 'health', href: '/healthz', title: 'liveness: 200 while the process answers' },
  { rel: 'ready', href: '/readyz', title: 'readiness: 200 while storage answers' },
  { rel: 'client', href: '/client/artifact-gateway.cjs', title: 'the runner client in one file: node artifact-gateway.cjs upload|cache …' },
];

function page(about: About): string {
  const items = LINKS.map((l) => `<li><a href="${l.href}"><code>${l.href}</code></a>: ${escapeHtml(l.title)}</li>`).join('\n');
  // no style or script: the API host's CSP (default-src 'none') would block them, and none is needed
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(about.name)} ${escapeHtml(about.version)}</title></head>
<body><h1>${escapeHtml(about.name)} <small>${escapeHtml(about.version)}</small></h1>
<p>${escapeHtml(about.description)}</p>
<ul>
${items}
</ul>
<p>The documentation is in the <code>docs/</code> folder of the source repository.</p>
</body></html>
`;
}

export interface HomeOptions {
  /** Defaults to readAbout(), read on the first request. */
  about?: About;
  openapiFile?: string;
}

export function homeRoutes(opts: HomeOptions = {}): Router<RequestState> {
  const router = new Router<RequestState>();
  const openapiFile = opts.openapiFile ?? join(ROOT, 'docs', 'openapi.yaml');
  let about = opts.about;
  let spec: string | undefined;

  router.get('/', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.vary('Accept');
    const a = (about ??= readAbout());
    // the same rule as error pages: a browser asks for HTML by name, scripts and */* get JSON
    if (ctx.accepts('json', 'html') === 'html') {
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = page(a);
      return;
    }
    ctx.body = { ...a, links: LINKS };
  });

  router.get('/openapi.yaml', (ctx) => {
    try {
      spec ??= readFileSync(openapiFile, 'utf8');
    } catch {
      throw new NotFoundError('this installation does not include docs/openapi.yaml');
    }
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/yaml; charset=utf-8';
    ctx.body = spec;
  });

  return router;
}
