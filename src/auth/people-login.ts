/**
 * People sign in with their organisation's OpenID provider: the authorization code flow with
 * PKCE, done by openid-client (discovery, S256 challenge, state and nonce, the code exchange, the
 * ID token's signature and claims). This module keeps only what the flow must carry between the
 * two requests, and the API host's memory of a finished sign-in, both as HS256 JWTs under a key of
 * their own (auth/keys.ts):
 *
 * - the flow: state, nonce, PKCE verifier, the origin and path to return to, in a cookie named
 *   after the state (two tabs signing in at once do not overwrite each other), ten minutes;
 * - the sign-in: who the person is (subject, name, verified email, groups) for VIEWER_LOGIN_TTL,
 *   so a second private origin is let in without a trip to the provider.
 */
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { custom, errors as oidcErrors, generators, Issuer, type BaseClient } from 'openid-client';
import { BadRequestError, IssuerUnavailableError } from '../errors';
import type { Config } from '../config';
import { personFrom, type Person, type ViewerPolicy } from './viewer-policy';

export const LOGIN_COOKIE = '__Host-agw_login';
export const FLOW_COOKIE_PREFIX = '__Host-agw_flow_';
export const FLOW_TTL_SECONDS = 600;

/** What the flow cookie carries from /login to the callback. */
export interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  label: string;
  next: string;
}

export interface PeopleLogin {
  policy: ViewerPolicy;
  loginTtlSeconds: number;
  /** Starts a sign-in: the provider's authorization URL and the flow cookie to set. */
  start(label: string, next: string): Promise<{ url: string; cookieName: string; cookie: string }>;
  /** The flow cookie's name for the state the provider sent back. */
  flowCookieName(state: string): string;
  /** Checks the flow cookie, and has the library exchange the code and validate the ID token. */
  finish(callbackUrl: string, flowToken: string | undefined): Promise<{ person: Person; flow: Flow }>;
  mintLogin(person: Person): Promise<string>;
  verifyLogin(token: string): Promise<Person | undefined>;
  /** The provider's end_session_endpoint for this client, if its discovery document names one. */
  endSessionUrl(): Promise<string | undefined>;
}

const ISSUER = 'artifact-gateway';
// the state names the flow cookie: 16 of its 43 base64url characters (96 bits) tell flows apart
const flowCookieName = (state: string) => FLOW_COOKIE_PREFIX + state.slice(0, 16);

export function createPeopleLogin(
  settings: NonNullable<Config['viewerLogin']> & { publicUrl: URL; fetchTimeoutMs: number },
  clientSecret: string,
  policy: ViewerPolicy,
  key: Uint8Array,
  now: () => number = Date.now,
): PeopleLogin {
  const redirectUri = new URL(settings.redirectPath, settings.publicUrl).toString();
  const audience = settings.publicUrl.origin;
  // every request openid-client makes (discovery, JWKS, token) must answer within the timeout
  custom.setHttpOptionsDefaults({ timeout: settings.fetchTimeoutMs });
  let client: Promise<BaseClient> | undefined;

  /** Discovered at the first sign-in; a failure is a 503 and is asked again next time. */
  function getClient(): Promise<BaseClient> {
    client ??= Issuer.discover(settings.issuer).then((issuer) => {
      if (issuer.issuer !== settings.issuer) {
        throw new Error(`its discovery document names the issuer ${JSON.stringify(issuer.issuer)}, not ${JSON.stringify(settings.issuer)}`);
      }
      return new issuer.Client({
        client_id: settings.clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ['code'],
      });
    });
    return client.catch((err: Error) => {
      client = undefined;
      throw new IssuerUnavailableError(`the sign-in provider ${settings.issuer} cannot be reached (${err.message}); try again shortly`);
    });
  }

  const sign = (typ: string, claims: Record<string, unknown>, subject: string, ttl: number) => {
    const iat = Math.floor(now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .sign(key);
  };
  const verify = async (typ: string, token: string) => {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience,
      typ,
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(now()),
    });
    return payload;
  };

  return {
    policy,
    loginTtlSeconds: settings.loginTtlSeconds,
    flowCookieName,
    async start(label, next) {
      const c = await getClient();
      const flow: Flow = { state: generators.state(), nonce: generators.nonce(), verifier: generators.codeVerifier(), label, next };
      const url = c.authorizationUrl({
        scope: settings.scopes.join(' '),
        state: flow.state,
        nonce: flow.nonce,
        code_challenge: generators.codeChallenge(flow.verifier),
        code_challenge_method: 'S256',
      });
      const cookie = await sign('agw-login-flow', { ...flow }, 'flow', FLOW_TTL_SECONDS);
      return { url, cookieName: flowCookieName(flow.state), cookie };
    },
    async finish(callbackUrl, flowToken) {
      let flow: Flow;
      try {
        if (!flowToken) throw new Error('no flow cookie');
        const p = await verify('agw-login-flow', flowToken);
        flow = { state: p.state, nonce: p.nonce, verifier: p.verifier, label: p.label, next: p.next } as Flow;
        if (![flow.state, flow.nonce, flow.verifier, flow.label, flow.next].every((v) => typeof v === 'string')) throw new Error('malformed');
      } catch (err) {
        const expired = err instanceof joseErrors.JWTExpired;
        throw new BadRequestError(
          expired
            ? 'this sign-in took too long; open the report again to start over'
            : 'this sign-in was not started here (unknown or forged state); open the report again to start over',
          'bad_login_state',
        );
      }
      const c = await getClient();
      const params = c.callbackParams(callbackUrl);
      try {
        const tokens = await c.callback(redirectUri, params, { state: flow.state, nonce: flow.nonce, code_verifier: flow.verifier, response_type: 'code' });
        return { person: personFrom(tokens.claims(), policy.groupsClaim), flow };
      } catch (err) {
        if (err instanceof oidcErrors.OPError) {
          // the provider's own refusal (access_denied, invalid_grant…); its error code only, not its text
          throw new BadRequestError(`the sign-in provider refused: ${err.error}`, 'login_refused');
        }
        if (err instanceof oidcErrors.RPError) throw new BadRequestError(`the sign-in could not be completed: ${err.message}`, 'bad_login_state');
        throw new IssuerUnavailableError(`the sign-in provider ${settings.issuer} cannot be reached (${(err as Error).message}); try again shortly`);
      }
    },
    mintLogin: (person) => sign('agw-login', { name: person.name, email: person.email, groups: person.groups }, person.subject, settings.loginTtlSeconds),
    async verifyLogin(token) {
      try {
        const p = await verify('agw-login', token);
        if (!Array.isArray(p.groups) || !p.groups.every((g) => typeof g === 'string')) return undefined;
        return {
          subject: p.sub!,
          name: typeof p.name === 'string' ? p.name : undefined,
          email: typeof p.email === 'string' ? p.email : undefined,
          groups: p.groups,
        };
      } catch {
        return undefined; // expired or not ours: sign in again
      }
    },
    async endSessionUrl() {
      const c = await getClient().catch(() => undefined);
      return c?.issuer.metadata.end_session_endpoint ? c.endSessionUrl() : undefined;
    },
  };
}
