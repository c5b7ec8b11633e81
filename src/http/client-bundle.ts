/**
 * `GET|HEAD /client/artifact-gateway.cjs` on the API host: the runner client, one file that needs
 * only node >= 20 (upload, cache save|restore; built by scripts/build-client.mjs into
 * dist/bundle/), so that a CI job fetches the client that matches its server with one curl.
 *
 * The file is read whole and kept (about 200 KiB), and read again only when its size or mtime
 * changes (a rebuild): it has to be hashed for the ETag anyway, and serving the very bytes that
 * were hashed means the ETag and the body always agree, even while a rebuild rewrites the file.
 * It is static content built from the repository: no configuration or secret goes into it.
 */
import Router from '@koa/router';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors';
import { ifNoneMatch } from './ranges';
import type { RequestState } from './request-context';

export const CLIENT_PATH = '/client/artifact-gateway.cjs';
// src/http/ and dist/http/ both sit two levels below the package root
export const CLIENT_FILE = join(__dirname, '..', '..', 'dist', 'bundle', 'artifact-gateway.cjs');

/** 404 with its own code: this installation was started without `npm run build`. */
export class ClientNotBuiltError extends AppError {
  readonly status = 404;
  readonly code = 'client_not_built';
}

interface Loaded {
  size: number;
  mtimeMs: number;
  body: Buffer;
  etag: string;
  version: string;
}

/** The version the build wrote into the banner's second line, `// artifact-gateway runner client <version>`. */
function versionOf(body: Buffer): string {
  const head = body.subarray(0, 512).toString('utf8');
  return /^\/\/ artifact-gateway runner client (\S+)$/m.exec(head)?.[1] ?? 'unknown';
}

export function clientBundleRoutes(opts: { file?: string } = {}): Router<RequestState> {
  const file = opts.file ?? CLIENT_FILE;
  const router = new Router<RequestState>();
  let loaded: Loaded | undefined;

  async function load(): Promise<Loaded> {
    const s = await stat(file).catch(() => null);
    if (!s?.isFile()) {
      loaded = undefined;
      throw new ClientNotBuiltError(
        `this gateway has no runner client to serve: build it with \`npm run build\` (it writes dist/bundle/artifact-gateway.cjs), then restart the gateway`,
      );
    }
    if (loaded && loaded.size === s.size && loaded.mtimeMs === s.mtimeMs) return loaded;
    const body = await readFile(file);
    const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
    loaded = { size: s.size, mtimeMs: s.mtimeMs, body, etag, version: versionOf(body) };
    return loaded;
  }

  // koa-router answers HEAD with the GET route; Koa then sends the headers without the body
  router.get(CLIENT_PATH, async (ctx) => {
    const b = await load();
    // short-lived: a runner should pick up a new client as soon as the gateway is upgraded, and
    // the ETag makes asking again cost a 304
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', b.etag);
    ctx.set('X-Client-Version', b.version);
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (ifNoneMatch(ctx.get('If-None-Match'), b.etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.body = b.body;
  });

  return router;
}
