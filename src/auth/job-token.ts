/**
 * Job tokens: JWTs verified with `jose`. HS256 with a key derived from SIGNING_SECRET (tokens
 * minted by `artifact-gateway token` or the CI's backend), or an asymmetric public key / JWKS URL
 * for a CI that issues its own tokens. Only the algorithms named here are accepted, so `alg: none`
 * and HS/RS key confusion are refused by construction.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, importSPKI, jwtVerify, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { BUILD_ID, isScope, PROJECT_ID, type Scope } from '../ids';

/** Who a verified token speaks for. */
export interface JobIdentity {
  subject: string;
  project: string;
  build: string;
  branch: string;
  /** The branch a pull request targets; absent for pushes. */
  baseBranch?: string;
  defaultBranch: string;
  /** The commit the job built (hex, 7 to 64 digits), when the token names one; shown on the project's home page. */
  commit?: string;
  /** Default/protected branch job; false for pull requests and forks. */
  trusted: boolean;
  scopes: ReadonlySet<Scope>;
}

export interface JobClaims {
  project: string;
  build: string;
  branch: string;
  base_branch?: string;
  default_branch: string;
  /** Optional: the commit (hex) the job built. */
  commit?: string;
  trusted: boolean;
  /** Space-separated, OAuth style. */
  scope: string;
}

export type TokenKeySource =
  | { kind: 'hs256'; key: Uint8Array }
  | { kind: 'public-key'; pem: string; algorithm: 'RS256' | 'ES256' | 'EdDSA' }
  | { kind: 'jwks-url'; url: URL }
  | { kind: 'jwks'; jwks: { keys: object[] } };

export interface TokenVerifierOptions {
  source: TokenKeySource;
  issuer: string;
  audience: string;
  now?: () => number;
}

export interface TokenVerifier {
  /** Resolves to the identity, or throws UnauthorizedError (401) saying what is wrong. */
  verify(token: string): Promise<JobIdentity>;
}

const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'];

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const { source } = options;
  let key: Uint8Array | KeyLike | ReturnType<typeof createRemoteJWKSet> | ReturnType<typeof createLocalJWKSet>;
  let algorithms: string[];
  switch (source.kind) {
    case 'hs256':
      key = source.key;
      algorithms = ['HS256'];
      break;
    case 'public-key':
      key = await importSPKI(source.pem, source.algorithm);
      algorithms = [source.algorithm];
      break;
    case 'jwks-url':
      key = createRemoteJWKSet(source.url, { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
      algorithms = ASYMMETRIC;
      break;
    case 'jwks':
      key = createLocalJWKSet(source.jwks as never);
      algorithms = ASYMMETRIC;
      break;
  }
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          issuer: options.issuer,
          audience: options.audience,
          requiredClaims: ['exp'],
          currentDate: options.now ? new Date(options.now()) : undefined,
        }));
      } catch (err) {
        throw new UnauthorizedError(`job token rejected: ${describeJoseError(err)}`);
      }
      return toIdentity(payload);
    },
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not accepted';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'is not valid'}`;
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key matches it';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'it is not a well-formed JWT';
  if (err instanceof errors.JOSENotSupported) return 'its algorithm is not supported';
  return 'it could not be verified';
}

function toIdentity(p: JWTPayload): JobIdentity {
  const str = (name: string, pattern?: RegExp): string => {
    const v = p[name];
    if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v))) {
      throw new UnauthorizedError(`job token rejected: claim "${name}" is missing or malformed`);
    }
    return v;
  };
  if (typeof p.trusted !== 'boolean') throw new UnauthorizedError('job token rejected: claim "trusted" must be true or false');
  const scopes = new Set<Scope>();
  for (const s of str('scope').split(' ')) {
    if (isScope(s)) scopes.add(s);
  }
  return {
    subject: typeof p.sub === 'string' ? p.sub : `${str('project')}#${str('build')}`,
    project: str('project', PROJECT_ID),
    build: str('build', BUILD_ID),
    branch: str('branch'),
    baseBranch: typeof p.base_branch === 'string' && p.base_branch !== '' ? p.base_branch : undefined,
    defaultBranch: str('default_branch'),
    commit: typeof p.commit === 'string' && /^[0-9a-f]{7,64}$/i.test(p.commit) ? p.commit.toLowerCase() : undefined,
    trusted: p.trusted,
    scopes,
  };
}

/** Mints an HS256 job token (the `token` command, tests, a CI backend written in JS). */
export async function mintJobToken(
  key: Uint8Array,
  claims: JobClaims,
  options: { issuer: string; audience: string; expiresInSeconds: number; subject?: string; now?: () => number },
): Promise<string> {
  const iat = Math.floor((options.now?.() ?? Date.now()) / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.subject ?? `${claims.project}#${claims.build}`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.expiresInSeconds)
    .sign(key);
}

/** The checks every API handler makes: this project, (for writes) this build, this scope. */
export function authorize(id: JobIdentity, need: { project: string; build?: string; scope: Scope }): void {
  if (id.project !== need.project) {
    throw new ForbiddenError(`this token is for project ${JSON.stringify(id.project)}, not ${JSON.stringify(need.project)}`);
  }
  if (need.build !== undefined && id.build !== need.build) {
    throw new ForbiddenError(`this token writes build ${JSON.stringify(id.build)} only, not ${JSON.stringify(need.build)}`);
  }
  if (!id.scopes.has(need.scope)) throw new ForbiddenError(`this token lacks the ${need.scope} scope`);
}
