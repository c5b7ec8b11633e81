/**
 * Builds every verifier from the root secret and the config: the one place that knows which
 * derived key signs what, and which CI issuers (OIDC_POLICY_FILE) are trusted beside it.
 */
import type { Config } from '../config';
import { createTokenVerifier, type TokenKeySource, type TokenVerifier } from './job-token';
import { deriveKey } from './keys';
import { createOidcVerifier, loadOidcPolicy, withOidc } from './oidc';
import { createViewerAuth, type ViewerAuth } from './viewer';

export interface Auth {
  tokens: TokenVerifier;
  viewers: ViewerAuth;
  /** HS256 key for minting job tokens (`artifact-gateway token`, tests). */
  jobTokenKey: Buffer;
  /** HMAC key of the Actions cache service's signed blob upload URLs (src/protocols/actions/upload-url.ts). */
  actionsUploadKey: Buffer;
}

export async function createAuth(config: Config, rootSecret: Buffer, now: () => number = Date.now): Promise<Auth> {
  const jobTokenKey = deriveKey(rootSecret, 'job-token');
  const jt = config.jobTokens;
  const source: TokenKeySource = jt.publicKeyPem
    ? { kind: 'public-key', pem: jt.publicKeyPem, algorithm: jt.publicKeyAlgorithm }
    : jt.jwksUrl
      ? { kind: 'jwks-url', url: jt.jwksUrl }
      : { kind: 'hs256', key: jobTokenKey };
  let tokens = await createTokenVerifier({ source, issuer: jt.issuer, audience: jt.audience, now });
  if (config.oidc.policyFile !== undefined) {
    const policy = await loadOidcPolicy(config.oidc.policyFile, jt.issuer);
    tokens = withOidc(tokens, jt.issuer, createOidcVerifier({ policy, timeoutMs: config.oidc.fetchTimeoutMs, cooldownMs: config.oidc.keyCooldownMs, now }));
  }
  return {
    tokens,
    viewers: createViewerAuth({ ticket: deriveKey(rootSecret, 'viewer-ticket'), session: deriveKey(rootSecret, 'viewer-session') }, now),
    jobTokenKey,
    actionsUploadKey: deriveKey(rootSecret, 'actions-upload-url'),
  };
}
