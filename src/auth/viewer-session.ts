/**
 * Viewers of private projects on an artifact origin: `/_auth?ticket=…&next=/…` exchanges a ticket
 * for this origin's session cookie and lands on `next` (without it, on `/`: the project's home
 * page, or the build's index with ISOLATION=build), and every other request of a private project
 * needs that cookie. The cookie is `__Host-` (Secure, Path=/, no Domain): no other origin, not even a sibling
 * subdomain, can set or overwrite it; HttpOnly, so a report's own script cannot read it.
 */
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { Middleware, ParameterizedContext } from 'koa';
import type { Config } from '../config';
import { BadRequestError, UnauthorizedError } from '../errors';
import { setLocation } from '../http/location';
import type { Logger } from '../http/logger';
import type { RequestState } from '../http/request-context';
import { isSameOriginPath, type ViewerAuth } from './viewer';

export const SESSION_COOKIE = '__Host-agw_session';

/** What an artifact origin knows once its label is resolved. */
export interface OriginState extends RequestState {
  label: string;
  project: string;
  /** Set with ISOLATION=build: the one build this origin serves. */
  build?: string;
  isPublic: boolean;
}

interface ViewerDeps {
  config: Pick<Config, 'sessionTtlSeconds'>;
  viewers: ViewerAuth;
  audit: Logger;
}

/** Answers `/_auth`: verifies the ticket for this origin, sets the session cookie, redirects to `next`. */
export function viewerSignIn({ config, viewers, audit }: ViewerDeps): Middleware<OriginState> {
  // a plain function in front: every other request passes here, and an async one costs a microtask hop
  return (ctx, next) => (ctx.path === '/_auth' ? signIn(ctx) : next());

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
    ctx.append(
      'Set-Cookie',
      serializeCookie(SESSION_COOKIE, session, { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: config.sessionTtlSeconds }),
    );
    audit.info(
      { audit: 'viewer.session', reqId: ctx.state.requestId, viewer: grant.viewer, project: grant.project, label: grant.label },
      'viewer signed in to a private origin',
    );
    ctx.set('Cache-Control', 'no-store');
    setLocation(ctx, nextRaw);
  }
}

/** Public projects pass; private ones need this origin's session cookie (401 with how to get one). */
export function requireViewer({ viewers }: Pick<ViewerDeps, 'viewers'>): Middleware<OriginState> {
  const signedIn = async (ctx: ParameterizedContext<OriginState>): Promise<void> => {
    const token = parseCookies(ctx.get('cookie'))[SESSION_COOKIE];
    if (!token) {
      throw new UnauthorizedError(
        "This project's artifacts are private. Open them from the link on your CI's build page " +
          '(or mint one with `artifact-gateway ticket`); the link signs you in to this origin only.',
      );
    }
    await viewers.verifySession(token, ctx.state.label);
  };
  // public projects pass without an await (a microtask hop on every request of the redirect path)
  return (ctx, next) => (ctx.state.isPublic ? next() : signedIn(ctx).then(() => next()));
}
