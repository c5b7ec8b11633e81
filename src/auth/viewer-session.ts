/**
 * Viewers of private projects on an artifact origin: `/_auth?ticket=…&next=/…` exchanges a ticket
 * for this origin's session cookie and lands on `next` (without it, on `/`: the project's home
 * page, or the build's index with ISOLATION=build), and every other request of a private project
 * needs that cookie. The cookie is `__Host-` (Secure, Path=/, no Domain): no other origin, not even a sibling
 * subdomain, can set or overwrite it; HttpOnly, so a report's own script cannot read it.
 * `/_logout` clears it. When people sign in with the organisation's login (VIEWER_OIDC_ISSUER), a
 * browser opening a page without a session is sent to the API host's /login, which comes back
 * through `/_auth`; scripts and other clients keep getting the 401, except a web app manifest
 * request, which gets a fixed empty manifest (EMPTY_MANIFEST).
 */
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { Middleware, ParameterizedContext } from 'koa';
import type { Config } from '../config';
import { isManifestRequest } from '../content-policy';
import { BadRequestError, UnauthorizedError } from '../errors';
import { setLocation } from '../http/location';
import type { Logger } from '../http/logger';
import type { RequestState } from '../http/request-context';
import { isSameOriginPath, type ViewerAuth } from './viewer';

export const SESSION_COOKIE = '__Host-agw_session';

/**
 * What a private origin answers a manifest request without a session. Browsers fetch
 * `<link rel=manifest>` without cookies (unless the page says crossorigin=use-credentials), so on
 * a private project Playwright's trace viewer got a 401 and logged errors (issue #14). The answer
 * is this fixed, data-free document, never the file, whatever the path: what makes a request a
 * manifest request (isManifestRequest) is only a claim (curl can send Sec-Fetch-Dest), so nothing
 * the real manifest holds, not even whether it exists, may depend on it.
 */
export const EMPTY_MANIFEST = '{}\n';

/** What an artifact origin knows once its label is resolved. */
export interface OriginState extends RequestState {
  label: string;
  project: string;
  /** Set with ISOLATION=build: the one build this origin serves. */
  build?: string;
  isPublic: boolean;
}

interface ViewerDeps {
  config: Pick<Config, 'sessionTtlSeconds' | 'publicUrl'>;
  viewers: ViewerAuth;
  audit: Logger;
  /** Whether people sign in on the API host (/login, /logout there). */
  people?: boolean;
}

const COOKIE = { httpOnly: true, secure: true, sameSite: 'lax', path: '/' } as const;

/** Answers `/_auth`: verifies the ticket for this origin, sets the session cookie, redirects to `next`. */
export function viewerSignIn({ config, viewers, audit, people }: ViewerDeps): Middleware<OriginState> {
  // a plain function in front: every other request passes here, and an async one costs a microtask hop
  return (ctx, next) => (ctx.path === '/_auth' ? signIn(ctx) : ctx.path === '/_logout' ? signOut(ctx) : next());

  /** Clears this origin's cookie; then the API host's sign-in too, when people sign in there. */
  function signOut(ctx: ParameterizedContext<OriginState>): void {
    ctx.append('Set-Cookie', serializeCookie(SESSION_COOKIE, '', { ...COOKIE, maxAge: 0 }));
    ctx.set('Cache-Control', 'no-store');
    if (people) return setLocation(ctx, new URL('/logout', config.publicUrl).toString());
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = 'Signed out of this origin.\n';
  }

  async function signIn(ctx: ParameterizedContext<OriginState>): Promise<void> {
    const ticket = ctx.query.ticket;
    const nextRaw = ctx.query.next ?? '/';
    if (typeof ticket !== 'string' || ticket === '') throw new BadRequestError('the ticket parameter is missing');
    if (typeof nextRaw !== 'string' || !isSameOriginPath(nextRaw)) {
      throw new BadRequestError('next must be a path on this origin (starting with a single /)');
    }
    const grant = await viewers.verifyTicket(ticket, ctx.state.label);
    if (grant.project !== ctx.state.project) throw new UnauthorizedError('this ticket is for another project');
    const session = await viewers.mintSession(grant, config.sessionTtlSeconds);
    ctx.append('Set-Cookie', serializeCookie(SESSION_COOKIE, session, { ...COOKIE, maxAge: config.sessionTtlSeconds }));
    audit.info(
      { audit: 'viewer.session', reqId: ctx.state.requestId, viewer: grant.viewer, project: grant.project, label: grant.label },
      'viewer signed in to a private origin',
    );
    ctx.set('Cache-Control', 'no-store');
    setLocation(ctx, nextRaw);
  }
}

/**
 * Public projects pass; private ones need this origin's session cookie: 401 with how to get one,
 * or, for a browser opening a page while people sign in on the API host, a 302 to its /login.
 */
export function requireViewer({
  config,
  viewers,
  people,
}: Pick<ViewerDeps, 'viewers' | 'people'> & { config: Pick<Config, 'publicUrl'> }): Middleware<OriginState> {
  const signedIn = async (ctx: ParameterizedContext<OriginState>): Promise<boolean> => {
    const token = parseCookies(ctx.get('cookie'))[SESSION_COOKIE];
    try {
      if (!token) {
        throw new UnauthorizedError(
          "This project's artifacts are private. Open them from the link on your CI's build page " +
            '(or mint one with `artifact-gateway ticket`); the link signs you in to this origin only.',
        );
      }
      await viewers.verifySession(token, ctx.state.label);
      return true;
    } catch (err) {
      if (err instanceof UnauthorizedError && isManifestRequest(ctx.get('sec-fetch-dest') || undefined, ctx.path)) {
        answerEmptyManifest(ctx);
        return false;
      }
      if (!(people && err instanceof UnauthorizedError && isNavigation(ctx))) throw err;
      // a request target such as //host is no path to come back to
      const back = isSameOriginPath(ctx.originalUrl) ? ctx.originalUrl : '/';
      const login = new URL('/login', config.publicUrl);
      login.search = new URLSearchParams({ origin: ctx.state.label, next: back }).toString();
      ctx.set('Cache-Control', 'no-store');
      setLocation(ctx, login.toString());
      return false;
    }
  };
  // public projects pass without an await (a microtask hop on every request of the redirect path)
  return (ctx, next) => (ctx.state.isPublic ? next() : signedIn(ctx).then((ok) => (ok ? next() : undefined)));
}

function answerEmptyManifest(ctx: ParameterizedContext<OriginState>): void {
  ctx.status = 200;
  ctx.type = 'application/manifest+json';
  ctx.set('Cache-Control', 'private, no-store');
  // the answer depends on these, whatever a cache in between would otherwise assume
  ctx.set('Vary', 'Cookie, Sec-Fetch-Dest');
  ctx.body = EMPTY_MANIFEST;
}

/** A browser opening a page (GET, asking for HTML), not a script's fetch or a CLI. */
function isNavigation(ctx: ParameterizedContext<OriginState>): boolean {
  return ctx.method === 'GET' && (ctx.get('accept').includes('text/html') || ctx.get('sec-fetch-mode') === 'navigate');
}
