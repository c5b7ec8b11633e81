/**
 * `artifact-gateway token`: mints one HS256 job token with the key the gateway derives from its
 * root secret, for development, tests, and CI backends that shell out. Configuration comes from
 * the environment exactly as `serve` reads it, so a token minted with the server's environment
 * verifies on that server.
 */
import { mintJobToken, type JobClaims } from '../auth/job-token';
import { BUILD_ID, DEFAULT_SCOPES, isScope, PROJECT_ID, SCOPES, type Scope } from '../ids';
import { loadConfig } from '../config';
import { id, wholeNumber } from './args';
import { gatewayAuth } from './gateway-auth';
import { defineCommand, OPTIONS, UsageError } from './command';

export const TOKEN_MAX_TTL = 86400;

export const token = defineCommand(
  {
    name: 'token',
    usage: '--project P --build N [options]',
    about: `Prints one job token (an HS256 JWT) that the gateway configured by the same environment accepts.
Reads the same environment variables as 'serve' (SIGNING_SECRET, or DATA_DIR/.signing-secret with
the fs driver; JWT_ISSUER, JWT_AUDIENCE). Refused when JWT_PUBLIC_KEY or JWT_JWKS_URL is set: then
an external issuer mints the tokens.`,
    options: {
      project: OPTIONS.project,
      build: { type: 'string', value: 'N', help: 'build id (required); the token writes this build only' },
      branch: { type: 'string', value: 'B', help: 'branch the job runs on (default: the default branch)' },
      'default-branch': { type: 'string', value: 'B', help: "the project's default branch (default: main)" },
      'base-branch': { type: 'string', value: 'B', help: 'the branch a pull request targets (omit for pushes)' },
      commit: { type: 'string', value: 'SHA', help: "the commit the job builds, 7 to 64 hex digits (shown on the project's home page)" },
      untrusted: { type: 'boolean', help: 'a pull-request or fork job: writes only its own cache scope' },
      scope: { type: 'string', value: 'S1,S2,...', help: `scopes, of ${SCOPES.join(', ')} (default: ${DEFAULT_SCOPES.join(', ')})` },
      ttl: { type: 'string', value: 'SECONDS', help: `lifetime, 1 to ${TOKEN_MAX_TTL} (default: 3600)` },
      help: OPTIONS.help,
    },
    after: `Example:
  export ARTIFACT_GATEWAY_TOKEN=$(artifact-gateway token --project acme/web --build 42)`,
  },
  async ({ values }, env) => {
    const defaultBranch = branchName(values['default-branch'], 'default-branch') ?? 'main';
    const claims: JobClaims = {
      project: id(values.project, 'project', PROJECT_ID),
      build: id(values.build, 'build', BUILD_ID),
      branch: branchName(values.branch, 'branch') ?? defaultBranch,
      default_branch: defaultBranch,
      trusted: values.untrusted !== true,
      scope: parseScopes(values.scope).join(' '),
    };
    const baseBranch = branchName(values['base-branch'], 'base-branch');
    if (baseBranch !== undefined) claims.base_branch = baseBranch;
    if (values.commit !== undefined) {
      if (!/^[0-9a-f]{7,64}$/i.test(values.commit))
        throw new UsageError(`the option '--commit' expects 7 to 64 hex digits, got ${JSON.stringify(values.commit)}`);
      claims.commit = values.commit.toLowerCase();
    }
    const ttl = wholeNumber(values.ttl, 'ttl', 3600, 1, TOKEN_MAX_TTL);

    // checked before the secret is touched: with an external issuer no HS256 token can verify
    const config = loadConfig(env);
    const { jobTokens } = config;
    if (jobTokens.publicKeyPem !== undefined || jobTokens.jwksUrl !== undefined) {
      throw new UsageError(
        `the gateway is configured for an external token issuer (${jobTokens.publicKeyPem !== undefined ? 'JWT_PUBLIC_KEY' : 'JWT_JWKS_URL'} is set), ` +
          'so it would reject an HS256 token minted here; get tokens from that issuer instead',
      );
    }
    const auth = await gatewayAuth('token', config);
    const jwt = await mintJobToken(auth.jobTokenKey, claims, {
      issuer: config.jobTokens.issuer,
      audience: config.jobTokens.audience,
      expiresInSeconds: ttl,
    });
    process.stdout.write(`${jwt}\n`);
    return 0;
  },
);

function branchName(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  // the verifier refuses empty claims; control characters have no business in a branch name
  if (value === '' || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(`the option '--${option}' expects a branch name, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseScopes(value: string | undefined): Scope[] {
  if (value === undefined) return [...DEFAULT_SCOPES];
  const scopes = [...new Set(value.split(/[\s,]+/).filter(Boolean))];
  if (scopes.length === 0) throw new UsageError(`the option '--scope' expects one or more of ${SCOPES.join(', ')}`);
  for (const s of scopes) {
    if (!isScope(s)) {
      throw new UsageError(`the option '--scope' got unknown scope ${JSON.stringify(s)} (expected ${SCOPES.join(', ')})`);
    }
  }
  return scopes as Scope[];
}
