/**
 * CI jobs that authenticate with their CI's own OIDC ID token: verified with `jose` against the
 * issuer's published keys (oidc-issuer.ts), read with the issuer's claim mapping
 * (oidc-mappings.ts), and allowed only as the project the policy (oidc-policy.ts) gives their
 * repository. Trust comes from the verified claims and the policy alone, never from anything the
 * job sends besides its token.
 */
import { readFile } from 'node:fs/promises';
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { ConfigError } from '../config';
import { UnauthorizedError } from '../errors';
import { BUILD_ID } from '../ids';
import type { JobIdentity, TokenVerifier } from './job-token';
import { IssuerKeys, keyFetchFailure } from './oidc-issuer';
import { mapperFor } from './oidc-mappings';
import { isTrustedBranch, parsePolicy, PolicyError, projectFor, type IssuerPolicy, type OidcPolicy } from './oidc-policy';

/** exp and nbf are checked with this much leeway for the CI's clock (seconds). */
export const CLOCK_TOLERANCE_SECONDS = 30;

export interface OidcVerifierOptions {
  policy: OidcPolicy;
  timeoutMs: number;
  cooldownMs: number;
  now?: () => number;
}

export interface OidcVerifier {
  /** Whether `iss` is an issuer of the policy. */
  handles(iss: string): boolean;
  /** The job identity of a token from one of the policy's issuers; 401, 403 or 503 otherwise. */
  verify(token: string): Promise<JobIdentity>;
}

export function createOidcVerifier(options: OidcVerifierOptions): OidcVerifier {
  const now = options.now ?? Date.now;
  const issuers = new Map<string, { policy: IssuerPolicy; keys: IssuerKeys; map: ReturnType<typeof mapperFor> }>();
  for (const policy of options.policy.issuers) {
    const keys = new IssuerKeys(policy.issuer, { timeoutMs: options.timeoutMs, cooldownMs: options.cooldownMs, now });
    issuers.set(policy.issuer, { policy, keys, map: mapperFor(policy.mapping) });
  }
  return {
    handles: (iss) => issuers.has(iss),
    async verify(token) {
      const iss = unverifiedIssuer(token);
      const entry = iss === undefined ? undefined : issuers.get(iss);
      if (!entry) throw new UnauthorizedError(`OIDC token rejected: issuer ${JSON.stringify(iss)} is not trusted`);
      const { policy } = entry;
      const keys = await entry.keys.keySet();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: policy.algorithms,
          issuer: policy.issuer,
          audience: policy.audience,
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(now()),
        }));
      } catch (err) {
        const down = keyFetchFailure(policy.issuer, err);
        if (down) throw down;
        throw new UnauthorizedError(`OIDC token of ${policy.issuer} rejected: ${describe(err, policy)}`);
      }
      const claims = entry.map(payload);
      const { rule, project } = projectFor(policy, claims.repository);
      if (!BUILD_ID.test(claims.build)) throw new UnauthorizedError(`OIDC token rejected: build ${JSON.stringify(claims.build)} is not a valid build id`);
      // a pull request, fork or SSH re-run never; otherwise a ref the CI says is protected, or a
      // branch the policy lists
      const trusted = claims.untrusted === undefined && (claims.refProtected === true || (claims.refIsBranch && isTrustedBranch(rule, claims.branch)));
      return {
        subject: `${policy.issuer}#${typeof payload.sub === 'string' ? payload.sub : claims.repository}`,
        project,
        build: claims.build,
        branch: claims.branch,
        baseBranch: claims.baseBranch,
        defaultBranch: rule.defaultBranch,
        trusted,
        scopes: rule.scopes,
      };
    },
  };
}

/** The iss of a token, read before verifying it to pick the issuer's keys; never trusted on its own. */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === 'string' ? iss.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

function describe(err: unknown, policy: IssuerPolicy): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return `its audience (aud) is not ${policy.audience.map((a) => JSON.stringify(a)).join(' or ')}`;
    if (err.claim === 'nbf') return 'it is not valid yet (nbf is in the future)';
    if (err.claim === 'iat') return 'it was issued in the future (iat)';
    return `claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'is not valid'}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return `its algorithm is not accepted (only ${policy.algorithms.join(', ')})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return "no key the issuer publishes matches the token's key id (kid)";
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'several keys of the issuer match it and it names no key id (kid)';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'it is not a well-formed JWT';
  if (err instanceof errors.JOSENotSupported) return 'its algorithm or key type is not supported';
  return 'it could not be verified';
}

/** Reads and checks OIDC_POLICY_FILE; every problem as a ConfigError naming the variable and the place. */
export async function loadOidcPolicy(file: string, ownIssuer?: string): Promise<OidcPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`OIDC_POLICY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let policy: OidcPolicy;
  try {
    policy = parsePolicy(text);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    throw new ConfigError(err.problems.map((p) => `OIDC_POLICY_FILE: ${file}: ${p}`));
  }
  const clash = policy.issuers.find((i) => i.issuer === ownIssuer);
  if (clash) throw new ConfigError([`OIDC_POLICY_FILE: ${file}: issuer ${clash.issuer} is also JWT_ISSUER; give the gateway's own tokens another issuer`]);
  return policy;
}

/**
 * Routes a token by its (unverified) iss: a policy issuer's to the OIDC verifier, anything else to
 * the gateway's own job-token verifier exactly as before. A token naming neither is refused saying so.
 */
export function withOidc(own: TokenVerifier, ownIssuer: string, oidc: OidcVerifier): TokenVerifier {
  return {
    verify(token) {
      const iss = unverifiedIssuer(token);
      if (iss !== undefined && oidc.handles(iss)) return oidc.verify(token);
      if (iss !== undefined && iss !== ownIssuer) {
        return Promise.reject(
          new UnauthorizedError(`job token rejected: issuer ${JSON.stringify(iss)} is not trusted (neither JWT_ISSUER nor an issuer of OIDC_POLICY_FILE)`),
        );
      }
      return own.verify(token);
    },
  };
}
