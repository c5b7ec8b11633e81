/**
 * Headers for everything served on an artifact origin, through helmet. Isolation comes from the
 * origin: one per project (or build), its session cookie HttpOnly and its own, the storage
 * origin never serving active content. The CSP is what a report may load, in two policies:
 *
 * - `reports` (the default): real reports run unmodified. Their own inline script and styles run,
 *   and scripts, styles, fonts, images and media may come from any https origin: Vitest's report
 *   loads Google Fonts, newman's htmlextra Bootstrap, jQuery, DataTables and Font Awesome from
 *   cdnjs (issue #14). connect-src stays 'self': no report we know fetches from another host, and
 *   it keeps a script that got into a report (a test name rendered as HTML) from posting the
 *   origin's data elsewhere or opening a channel back. It is not a wall: an image URL or a
 *   navigation can still carry data out, which only `strict` narrows (and navigation not even
 *   that).
 * - `strict`: everything from the origin itself (images and media also from the storage origin,
 *   where passive files are redirected). For projects whose reports must load nothing from
 *   elsewhere: CONTENT_POLICY=strict for all, STRICT_CONTENT_PROJECTS for some.
 *
 * Both keep object-src 'none' (no plugins), base-uri and form-action 'self', frame-ancestors from
 * FRAME_ANCESTORS, and frame-src 'self' data:, which Playwright's trace viewer needs (its
 * snapshot frames, and a data: page for "no snapshot"); a data: frame is an opaque origin that
 * can read nothing of the report's.
 */
import type { HelmetOptions } from 'helmet';
import type { Middleware } from 'koa';
import type { OriginState } from '../auth/viewer-session';
import type { Config } from '../config';
import { koaHelmet } from '../http/helmet';
import { projectPattern } from '../ids';

export type ContentPolicy = Config['contentPolicy'];

export function artifactHelmet(policy: ContentPolicy, frameAncestors: string[], storageOrigin: string): Readonly<HelmetOptions> {
  const fromStorage = storageOrigin ? [storageOrigin] : [];
  // https: includes the storage origin when it is https; the fs driver's may be http
  const elsewhere = policy === 'reports' ? ['https:'] : [];
  const passive = [...new Set([...fromStorage, ...elsewhere])];
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'", "'unsafe-eval'", 'blob:', ...elsewhere],
        styleSrc: ["'self'", "'unsafe-inline'", ...elsewhere],
        imgSrc: ["'self'", 'data:', 'blob:', ...passive],
        mediaSrc: ["'self'", 'data:', 'blob:', ...passive],
        fontSrc: ["'self'", 'data:', ...elsewhere],
        connectSrc: ["'self'"],
        workerSrc: ["'self'", 'blob:'],
        frameSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors,
      },
    },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    // COEP would break reports that embed cross-origin images from the storage origin
    crossOriginEmbedderPolicy: false,
    originAgentCluster: true,
    referrerPolicy: { policy: 'no-referrer' },
    // frame-ancestors decides framing; X-Frame-Options cannot express an allow-list
    xFrameOptions: false,
    // HSTS is set by the TLS terminator
    strictTransportSecurity: false,
    xDnsPrefetchControl: { allow: false },
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
  };
}

/**
 * The headers of CONTENT_POLICY, for every answer of an artifact origin (errors included, before
 * the project is known).
 */
export function artifactHeaders(config: Pick<Config, 'contentPolicy' | 'frameAncestors'>, storageOrigin: string): Middleware {
  return koaHelmet(artifactHelmet(config.contentPolicy, config.frameAncestors, storageOrigin));
}

/**
 * Once the project is known: the strict headers instead for a project in STRICT_CONTENT_PROJECTS.
 * Undefined when no project needs it (nothing to run on each request).
 */
export function strictProjects(
  config: Pick<Config, 'contentPolicy' | 'frameAncestors' | 'strictContentProjects'>,
  storageOrigin: string,
): Middleware<OriginState> | undefined {
  if (config.contentPolicy === 'strict' || config.strictContentProjects.length === 0) return undefined;
  const patterns = config.strictContentProjects.map((p) => projectPattern(p)!);
  const strict = koaHelmet(artifactHelmet('strict', config.frameAncestors, storageOrigin));
  return (ctx, next) => (patterns.some((p) => p.test(ctx.state.project)) ? (strict(ctx, next) as Promise<void>) : next());
}
