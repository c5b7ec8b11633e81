/**
 * helmet is Express-style middleware (req, res, next); this runs it inside Koa, the way
 * koa-helmet does, without another dependency.
 */
import helmet, { type HelmetOptions } from 'helmet';
import type { Middleware } from 'koa';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export function koaHelmet(options: Readonly<HelmetOptions>): Middleware {
  const h = helmet(options);
  // Every artifact request runs this, the 302s included: replaying helmet's answer costs one
  // setHeader per header, where running its dozen middlewares per request cost ~4% of the redirect
  // path (bench/, --profile). Only a configuration with a function (a per-request CSP nonce) needs
  // helmet itself each time; ours have none.
  const fixed = hasFunction(options) ? undefined : recordHeaders(h);
  if (fixed) {
    return (ctx, next) => {
      for (const [name, value] of fixed.set) ctx.res.setHeader(name, value);
      for (const name of fixed.removed) ctx.res.removeHeader(name);
      return next();
    };
  }
  return (ctx, next) =>
    new Promise<void>((resolve, reject) =>
      h(ctx.req, ctx.res, (err?: unknown) => (err ? reject(err instanceof Error ? err : new Error('helmet failed')) : resolve())),
    ).then(next);
}

/** What helmet sets and removes, run once against a stand-in response. */
function recordHeaders(h: Handler): { set: Array<[string, string]>; removed: string[] } | undefined {
  const set: Array<[string, string]> = [];
  const removed: string[] = [];
  const res = {
    // lower-case names: node stores headers by lower-case name, and one given so costs no new
    // string per request (helmet's are capitalised)
    setHeader: (name: string, value: unknown) => void set.push([name.toLowerCase(), String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  } as unknown as ServerResponse;
  let failed = false;
  let done = false;
  h({} as IncomingMessage, res, (err) => {
    failed = err !== undefined;
    done = true;
  });
  // helmet calls next synchronously; anything else is a helmet this code does not know
  return done && !failed ? { set, removed } : undefined;
}

function hasFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(hasFunction);
}

/** The API host serves JSON only: nothing on it may render, frame or run. */
export const API_HELMET: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  referrerPolicy: { policy: 'no-referrer' },
  // HSTS belongs to the TLS terminator (nginx), which knows whether this is HTTPS
  strictTransportSecurity: false,
};
