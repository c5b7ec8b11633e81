/**
 * Builds every verifier from the root secret and the config: the one place that knows which
 * derived key signs what, which CI issuers (OIDC_POLICY_FILE) are trusted beside it, and, with
 * VIEWER_OIDC_ISSUER, how people sign in (its client secret and VIEWER_POLICY_FILE read at start).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config';
import type { Config } from '../config';
import { createTokenVerifier, type TokenKeySource, type TokenVerifier } from './job-token';
import { deriveKey } from './keys';
import { createOidcVerifier, loadOidcPolicy, withOidc } from './oidc';
import { createPeopleLogin, type PeopleLogin } from './people-login';
import { createViewerAuth, type ViewerAuth } from './viewer';
import { loadViewerPolicy, type ViewerPolicy } from './viewer-policy';

export interface Auth {
  tokens: TokenVerifier;
  viewers: ViewerAuth;
  /** People's sign-in through the organisation's OpenID provider; absent without VIEWER_OIDC_ISSUER. */
  people?: PeopleLogin;
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
  let people: PeopleLogin | undefined;
  const vl = config.viewerLogin;
  if (vl) {
    const { policy, secret } = await loadViewerLogin(vl);
    const settings = { ...vl, publicUrl: config.publicUrl, fetchTimeoutMs: config.oidc.fetchTimeoutMs };
    people = createPeopleLogin(settings, secret, policy, deriveKey(rootSecret, 'viewer-login'), now);
  }
  return {
    tokens,
    people,
    viewers: createViewerAuth({ ticket: deriveKey(rootSecret, 'viewer-ticket'), session: deriveKey(rootSecret, 'viewer-session') }, now),
    jobTokenKey,
    actionsUploadKey: deriveKey(rootSecret, 'actions-upload-url'),
  };
}

/** Reads VIEWER_POLICY_FILE and the client secret (file); every problem as a ConfigError (serve checks them first). */
export async function loadViewerLogin(vl: NonNullable<Config['viewerLogin']>): Promise<{ policy: ViewerPolicy; secret: string }> {
  const policy = await loadViewerPolicy(vl.policyFile);
  return { policy, secret: vl.clientSecret ?? (await readSecretFile(vl.clientSecretFile!)) };
}

async function readSecretFile(file: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new ConfigError([`VIEWER_OIDC_CLIENT_SECRET_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  if (text === '') throw new ConfigError([`VIEWER_OIDC_CLIENT_SECRET_FILE: ${file} is empty`]);
  return text;
}
