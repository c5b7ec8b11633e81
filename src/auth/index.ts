/**
 * Builds every verifier from the root secret and the config: the one place that knows which
 * derived key signs what.
 */
import type { Config } from '../config';
import { createTokenVerifier, type TokenKeySource, type TokenVerifier } from './job-token';
import { deriveKey } from './keys';
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
  return {
    tokens: await createTokenVerifier({ source, issuer: jt.issuer, audience: jt.audience, now }),
    viewers: createViewerAuth({ ticket: deriveKey(rootSecret, 'viewer-ticket'), session: deriveKey(rootSecret, 'viewer-session') }, now),
    jobTokenKey,
    actionsUploadKey: deriveKey(rootSecret, 'actions-upload-url'),
  };
}
