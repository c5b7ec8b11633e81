/**
 * helmet is Express-style middleware (req, res, next); this runs it inside Koa, the way
 * koa-helmet does, without another dependency.
 */
import helmet, { type HelmetOptions } from 'helmet';
import type { Middleware } from 'koa';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function koaHelmet(options: Readonly<HelmetOptions>): Middleware {
  const h = helmet(options) as (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
  return (ctx, next) =>
    new Promise<void>((resolve, reject) => h(ctx.req, ctx.res, (err) => (err ? reject(err) : resolve()))).then(next);
}

/** The API host serves JSON only: nothing on it may render, frame or run. */
export const API_HELMET: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  referrerPolicy: { policy: 'no-referrer' },
  // HSTS belongs to the TLS terminator (nginx), which knows whether this is HTTPS
  strictTransportSecurity: false,
};
