/**
 * Viewers of private projects. The CI's web app (or `artifact-gateway ticket`) mints a short-lived
 * ticket bound to ONE origin label; the gateway exchanges it on that origin for a session cookie
 * that is valid on that origin only. Both are HS256 JWTs with keys of their own (auth/keys.ts) and
 * an audience naming the label, so a ticket or cookie for project A means nothing on B's origin.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../errors';

export interface ViewerGrant {
  /** Origin label the grant is valid on. */
  label: string;
  project: string;
  /** Who the CI says is looking; recorded in logs, not checked. */
  viewer: string;
}

const ISSUER = 'artifact-gateway';

async function sign(key: Uint8Array, typ: string, grant: ViewerGrant, ttlSeconds: number, now: number): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ project: grant.project })
    .setProtectedHeader({ alg: 'HS256', typ })
    .setIssuer(ISSUER)
    .setAudience(grant.label)
    .setSubject(grant.viewer)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

async function verify(key: Uint8Array, typ: string, token: string, label: string, now: number, what: string): Promise<ViewerGrant> {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: label,
      typ,
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(now),
    });
    if (protectedHeader.typ !== typ || typeof payload.project !== 'string') throw new Error('wrong type');
    return { label, project: payload.project, viewer: payload.sub! };
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new UnauthorizedError(`this ${what} has expired; ask for a new link`);
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
      throw new UnauthorizedError(`this ${what} is for another origin`);
    }
    throw new UnauthorizedError(`this ${what} is not valid`);
  }
}

export function createViewerAuth(keys: { ticket: Uint8Array; session: Uint8Array }, now: () => number = Date.now) {
  return {
    mintTicket: (grant: ViewerGrant, ttlSeconds: number) => sign(keys.ticket, 'agw-ticket', grant, ttlSeconds, now()),
    verifyTicket: (token: string, label: string) => verify(keys.ticket, 'agw-ticket', token, label, now(), 'ticket'),
    mintSession: (grant: ViewerGrant, ttlSeconds: number) => sign(keys.session, 'agw-session', grant, ttlSeconds, now()),
    verifySession: (token: string, label: string) => verify(keys.session, 'agw-session', token, label, now(), 'session'),
  };
}
export type ViewerAuth = ReturnType<typeof createViewerAuth>;

/**
 * Where a sign-in may send the browser: a path on the same origin. A single leading '/' only:
 * `//host` and `/\host` both mean another host to a browser (an open redirect).
 */
export function isSameOriginPath(next: string): boolean {
  return next.length <= 2048 && /^\/(?![/\\])[^\u0000-\u001f\u007f]*$/.test(next);
}
