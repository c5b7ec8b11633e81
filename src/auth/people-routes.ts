/**
 * The API host's sign-in routes for people (auth/people-login.ts does the OpenID part):
 *
 * - GET /login?origin=<label>&next=<path>: an artifact origin sends a browser without a session
 *   here. Known to the API host already (its login cookie): straight to the policy. Otherwise a
 *   flow cookie and a 302 to the provider.
 * - GET <VIEWER_OIDC_REDIRECT_PATH>: the provider sends the browser back; the flow cookie must
 *   match the state, the library exchanges the code and checks the ID token, the policy decides.
 * - GET /logout: forgets the API host's sign-in, then the provider's end-session page if it has one.
 *
 * Let in: a viewer ticket bound to that origin, and a 302 to its `/_auth` (the ticket flow of
 * auth/viewer-session.ts sets the origin's own cookie). Not let in: a 403 page saying who they
 * are signed in as. A refused request sets no cookie.
 */
import Router from '@koa/router';
import { parse as parseCookies, serialize as serializeCookie, type SerializeOptions } from 'cookie';
import escapeHtml from 'escape-html';
import type { Context } from 'koa';
import type { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config';
import { BadRequestError, NotFoundError } from '../errors';
import { LABEL, type HostResolver } from '../hosts';
import { setLocation } from '../http/location';
import type { Logger } from '../http/logger';
import type { RequestState } from '../http/request-context';
import { LOGIN_COOKIE, FLOW_TTL_SECONDS, type PeopleLogin } from './people-login';
import { isSameOriginPath, type ViewerAuth } from './viewer';
import { mayView, type Person } from './viewer-policy';

export interface PeopleRouteDeps {
  config: Pick<Config, 'ticketTtlSeconds' | 'publicProjects' | 'publicUrl'> & { viewerLogin?: Pick<NonNullable<Config['viewerLogin']>, 'redirectPath'> };
  people?: PeopleLogin;
  viewers: ViewerAuth;
  store: ArtifactStore;
  hosts: HostResolver;
  audit: Logger;
}

const COOKIE: SerializeOptions = { httpOnly: true, secure: true, sameSite: 'lax', path: '/' };
const DEFAULT_REDIRECT_PATH = '/login/callback';

export function peopleRoutes(deps: PeopleRouteDeps): Router<RequestState> {
  const { config, viewers, store, hosts, audit } = deps;
  const router = new Router<RequestState>();
  const people = (): PeopleLogin => {
    if (!deps.people) throw new NotFoundError("signing in with the organisation's login is not configured on this gateway (VIEWER_OIDC_ISSUER)");
    return deps.people;
  };

  router.get('/login', async (ctx) => {
    const login = people();
    const label = ctx.query.origin;
    const next = ctx.query.next ?? '/';
    if (typeof label !== 'string' || !LABEL.test(label)) throw new BadRequestError('origin must be the label of an artifact origin');
    if (typeof next !== 'string' || !isSameOriginPath(next)) throw new BadRequestError('next must be a path on that origin (starting with a single /)');
    const target = await store.resolveLabel(label);
    if (!target) throw new NotFoundError('nothing has been published on that origin');
    ctx.set('Cache-Control', 'no-store');
    if (config.publicProjects.has(target.project)) return setLocation(ctx, hosts.artifactOrigin(label) + next);
    const known = parseCookies(ctx.get('cookie'))[LOGIN_COOKIE];
    const person = known === undefined ? undefined : await login.verifyLogin(known);
    if (person) return admit(ctx, person, label, target.project, next);
    const { url, cookieName, cookie } = await login.start(label, next);
    ctx.append('Set-Cookie', serializeCookie(cookieName, cookie, { ...COOKIE, maxAge: FLOW_TTL_SECONDS }));
    setLocation(ctx, url);
  });

  router.get(config.viewerLogin?.redirectPath ?? DEFAULT_REDIRECT_PATH, async (ctx) => {
    const login = people();
    const state = ctx.query.state;
    if (typeof state !== 'string' || state === '') throw new BadRequestError('the state parameter is missing', 'bad_login_state');
    const cookieName = login.flowCookieName(state);
    const { person, flow } = await login.finish(new URL(ctx.originalUrl, config.publicUrl).toString(), parseCookies(ctx.get('cookie'))[cookieName]);
    ctx.set('Cache-Control', 'no-store');
    // the flow is spent either way
    ctx.append('Set-Cookie', serializeCookie(cookieName, '', { ...COOKIE, maxAge: 0 }));
    const target = await store.resolveLabel(flow.label);
    if (!target) throw new NotFoundError('nothing has been published on that origin');
    // remembered only when the policy lets them in somewhere: a refusal sets nothing lasting
    const allowed = mayView(login.policy, person, target.project);
    if (allowed && login.loginTtlSeconds > 0) {
      const token = await login.mintLogin(person);
      // a person in very many groups would not fit in a cookie: they go through the provider each time
      if (token.length < 3800) ctx.append('Set-Cookie', serializeCookie(LOGIN_COOKIE, token, { ...COOKIE, maxAge: login.loginTtlSeconds }));
    }
    audit.info({ audit: 'viewer.login', reqId: ctx.state.requestId, viewer: who(person), subject: person.subject, label: flow.label }, 'person signed in');
    await admit(ctx, person, flow.label, target.project, flow.next);
  });

  router.get('/logout', async (ctx) => {
    const login = people();
    ctx.set('Cache-Control', 'no-store');
    ctx.append('Set-Cookie', serializeCookie(LOGIN_COOKIE, '', { ...COOKIE, maxAge: 0 }));
    const endSession = await login.endSessionUrl();
    if (endSession) return setLocation(ctx, endSession);
    page(ctx, 200, 'Signed out', '<p>You are signed out of the artifact gateway.</p>');
  });

  /** The policy's answer: a ticket for the origin and on to its /_auth, or a 403 page. */
  async function admit(ctx: Context, person: Person, label: string, project: string, next: string): Promise<void> {
    if (!mayView(people().policy, person, project)) {
      audit.info({ audit: 'viewer.refused', reqId: ctx.state.requestId, viewer: who(person), project, label }, 'person may not view this project');
      return page(
        ctx,
        403,
        'No access',
        `<p>You are signed in as <strong>${escapeHtml(who(person))}</strong>, who may not view the artifacts of <strong>${escapeHtml(project)}</strong>.</p>` +
          '<p>Ask for access, or <a href="/logout">sign out</a> and sign in as someone else.</p>',
      );
    }
    const ticket = await viewers.mintTicket({ label, project, viewer: who(person) }, config.ticketTtlSeconds);
    setLocation(ctx, `${hosts.artifactOrigin(label)}/_auth?ticket=${encodeURIComponent(ticket)}&next=${encodeURIComponent(next)}`);
  }

  return router;
}

/** How a person is named in pages and logs: their verified email, else their name, else the subject. */
function who(person: Person): string {
  return person.email ?? person.name ?? person.subject;
}

function page(ctx: Context, status: number, title: string, body: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1>${body}</html>\n`;
}
