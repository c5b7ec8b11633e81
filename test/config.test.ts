import { ConfigError, describeConfig, loadConfig, VARIABLES } from '../src/config';

const load = (env: Record<string, string>) => loadConfig(env, { cwd: '/srv/gw' });

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs with no environment at all: fs storage, API on localhost:8080, artifact origins on *.localhost', () => {
    const config = load({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.publicUrl.origin).toBe('http://localhost:8080');
    expect(config.artifactDomain).toBe('localhost');
    expect(config.storage).toEqual({ driver: 'fs', dataDir: '/srv/gw/data' });
    expect(config.presignTtlSeconds).toBe(60);
    expect(config.signingSecret).toBeUndefined();
    expect(config.signingSecretFile).toBe('/srv/gw/data/.signing-secret');
    expect(config.isolation).toBe('project');
    expect(config.publicProjects.size).toBe(0);
    expect(config.contentPolicy).toBe('reports');
    expect(config.strictContentProjects).toEqual([]);
    expect(config.warnings.join('\n')).toMatch(/share 'localhost'/);
  });

  it('reads the content policy and the project patterns that get the strict one', () => {
    const config = load({ CONTENT_POLICY: 'strict', STRICT_CONTENT_PROJECTS: 'acme/web, bank/*' });
    expect(config.contentPolicy).toBe('strict');
    expect(config.strictContentProjects).toEqual(['acme/web', 'bank/*']);
  });

  it('gives clients 20 s to send their request headers unless HEADERS_TIMEOUT says otherwise', () => {
    expect(load({}).headersTimeoutMs).toBe(20_000);
    expect(load({ HEADERS_TIMEOUT: '5' }).headersTimeoutMs).toBe(5_000);
  });

  it('follows PORT in the default PUBLIC_URL', () => {
    expect(load({ PORT: '9000' }).publicUrl.origin).toBe('http://localhost:9000');
  });

  it('reads a complete s3 configuration', () => {
    const config = load({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:7480',
      ARTIFACTS_BUCKET: 'artifacts',
      CACHE_BUCKET: 'caches',
      S3_ACCESS_KEY_ID: 'AK',
      S3_SECRET_ACCESS_KEY: 'SK',
      S3_CREATE_BUCKETS: 'true',
      PUBLIC_URL: 'https://artifacts.example.com',
      ARTIFACT_DOMAIN: 'example-artifacts.net',
      SIGNING_SECRET: 's'.repeat(32),
    });
    expect(config.storage).toEqual({
      driver: 's3',
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
      sessionToken: undefined,
      artifactsBucket: 'artifacts',
      cacheBucket: 'caches',
      createBuckets: true,
      responseTimeoutMs: 5_000,
    });
    expect(config.warnings.join('\n')).not.toMatch(/localhost/);
  });

  it('reads S3_PUBLIC_ENDPOINT, the endpoint presigned URLs point at, next to the one the gateway uses', () => {
    const config = load({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:7480',
      S3_PUBLIC_ENDPOINT: 'https://s3.example.com/',
      ARTIFACTS_BUCKET: 'artifacts',
      CACHE_BUCKET: 'caches',
      SIGNING_SECRET: 's'.repeat(32),
    });
    expect(config.storage).toMatchObject({ endpoint: 'http://127.0.0.1:7480', publicEndpoint: 'https://s3.example.com' });
    expect(problemsOf({ STORAGE_DRIVER: 's3', S3_PUBLIC_ENDPOINT: 'ftp://s3.example.com' }).join('\n')).toMatch(
      /S3_PUBLIC_ENDPOINT: expected an http or https URL/,
    );
  });

  it('lists every problem at once, each by variable name', () => {
    const problems = problemsOf({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'not a url',
      PORT: 'eighty',
      PRESIGN_TTL: '0',
      LOG_LEVEL: 'loud',
      TRUST_PROXY: 'maybe',
    });
    const text = problems.join('\n');
    for (const name of ['S3_ENDPOINT', 'PORT', 'PRESIGN_TTL', 'LOG_LEVEL', 'TRUST_PROXY', 'ARTIFACTS_BUCKET', 'CACHE_BUCKET', 'SIGNING_SECRET']) {
      expect(text).toContain(`${name}:`);
    }
    expect(problems).toHaveLength(8);
  });

  it.each([
    [{ STORAGE_DRIVER: 'gcs' }, /STORAGE_DRIVER: expected fs or s3, got "gcs"/],
    [{ STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'a-b', CACHE_BUCKET: 'c-d', S3_ENDPOINT: 'ftp://x' }, /S3_ENDPOINT: expected an http or https URL/],
    [{ STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'same', CACHE_BUCKET: 'same' }, /CACHE_BUCKET: must differ/],
    [{ STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'Bad_Bucket', CACHE_BUCKET: 'c-d' }, /ARTIFACTS_BUCKET: "Bad_Bucket" is not a valid S3 bucket name/],
    [{ STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'a-b', CACHE_BUCKET: 'c-d', S3_ACCESS_KEY_ID: 'x' }, /set both or neither/],
    [{ PORT: '70000' }, /PORT: expected a whole number from 0 to 65535/],
    [{ PUBLIC_URL: 'https://x.example.com/base' }, /PUBLIC_URL: must be an origin/],
    [{ PUBLIC_URL: 'https://user:pw@x.example.com' }, /PUBLIC_URL: must not contain credentials/],
    [{ SIGNING_SECRET: 'short' }, /SIGNING_SECRET: must be at least 32 characters/],
    [{ ARTIFACT_DOMAIN: '127.0.0.1' }, /ARTIFACT_DOMAIN: expected a DNS name/],
    [{ ARTIFACT_DOMAIN: 'bad_domain!' }, /ARTIFACT_DOMAIN: expected a DNS name/],
    [{ SHUTDOWN_TIMEOUT: '-1' }, /SHUTDOWN_TIMEOUT/],
    [{ HEADERS_TIMEOUT: '0' }, /HEADERS_TIMEOUT: expected a whole number from 1 to 600/],
    [
      { STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'a-b', CACHE_BUCKET: 'c-d', SIGNING_SECRET: 's'.repeat(32), S3_RESPONSE_TIMEOUT: '0' },
      /S3_RESPONSE_TIMEOUT: expected a whole number from 1 to 300/,
    ],
    [{ STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'a-b', CACHE_BUCKET: 'c-d' }, /SIGNING_SECRET: required when STORAGE_DRIVER=s3/],
    [{ ISOLATION: 'org' }, /ISOLATION: expected project or build, got "org"/],
    [{ PUBLIC_PROJECTS: 'acme/web,../etc' }, /PUBLIC_PROJECTS: "..\/etc" is not a valid project id/],
    [{ INLINE_MAX_BYTES: 'lots' }, /INLINE_MAX_BYTES: expected a whole number/],
    [{ FRAME_ANCESTORS: "'self' javascript:alert(1)" }, /FRAME_ANCESTORS: "javascript:alert\(1\)" is not/],
    [{ CONTENT_POLICY: 'loose' }, /CONTENT_POLICY: expected reports or strict, got "loose"/],
    [{ STRICT_CONTENT_PROJECTS: 'acme/web,acme/**' }, /STRICT_CONTENT_PROJECTS: "acme\/\*\*" is not a project id or a pattern of one/],
    [{ STRICT_CONTENT_PROJECTS: '../etc' }, /STRICT_CONTENT_PROJECTS: "..\/etc" is not a project id/],
    [{ JWT_PUBLIC_KEY: 'not a pem' }, /JWT_PUBLIC_KEY: expected a PEM public key/],
    [{ JWT_JWKS_URL: 'file:///etc/keys' }, /JWT_JWKS_URL: expected an http or https URL/],
    [{ JWT_ALGORITHM: 'HS256' }, /JWT_ALGORITHM: expected RS256, ES256 or EdDSA/],
    [{ TICKET_TTL: '5' }, /TICKET_TTL: expected a whole number from 10/],
  ])('rejects %j', (env, message) => {
    expect(problemsOf(env).join('\n')).toMatch(message);
  });

  it.each([
    ['equals', 'https://example.com', 'example.com'],
    ['is contained in the API host', 'https://artifacts.example.com', 'example.com'],
    ['contains the API host', 'https://example.com', 'artifacts.example.com'],
  ])('refuses an ARTIFACT_DOMAIN that %s', (_what, publicUrl, domain) => {
    expect(problemsOf({ PUBLIC_URL: publicUrl, ARTIFACT_DOMAIN: domain }).join('\n')).toMatch(/ARTIFACT_DOMAIN: .* must be a different registrable domain/);
  });

  it('accepts an artifact domain that merely ends with the same letters', () => {
    expect(() => load({ PUBLIC_URL: 'https://example.com', ARTIFACT_DOMAIN: 'myexample.com' })).not.toThrow();
  });

  it('never shows secrets in the effective configuration it logs', () => {
    const config = load({
      STORAGE_DRIVER: 's3',
      ARTIFACTS_BUCKET: 'a-b',
      CACHE_BUCKET: 'c-d',
      S3_ACCESS_KEY_ID: 'AKIDVISIBLE',
      S3_SECRET_ACCESS_KEY: 'very-secret-key',
      S3_SESSION_TOKEN: 'session-token-value',
      SIGNING_SECRET: 'x'.repeat(40),
    });
    const text = JSON.stringify(describeConfig(config));
    expect(text).not.toContain('very-secret-key');
    expect(text).not.toContain('session-token-value');
    expect(text).not.toContain('x'.repeat(40));
    expect(text).toContain('AKIDVISIBLE');
  });

  const secrets = Object.entries(VARIABLES)
    .filter(([, v]) => 'secret' in v && v.secret)
    .map(([name]) => name);

  it.each(secrets)('keeps %s, marked secret in the variable table, out of the logged configuration', (name) => {
    const marker = `marker-for-${name}-0123456789abcdef0123456789`;
    const env = { STORAGE_DRIVER: 's3', ARTIFACTS_BUCKET: 'a-b', CACHE_BUCKET: 'c-d', S3_ACCESS_KEY_ID: 'AK', S3_SECRET_ACCESS_KEY: 'SK' };
    const config = load({ SIGNING_SECRET: 'x'.repeat(40), ...env, [name]: marker });
    expect(JSON.stringify(describeConfig(config))).not.toContain(marker);
  });

  it('reads the variables of one storage driver only with that driver', () => {
    expect(load({ S3_RESPONSE_TIMEOUT: '0', ARTIFACTS_BUCKET: 'Bad_Bucket' }).storage.driver).toBe('fs');
  });

  describe('people signing in (VIEWER_OIDC_*)', () => {
    const full = {
      VIEWER_OIDC_ISSUER: 'https://login.example.com/realms/acme',
      VIEWER_OIDC_CLIENT_ID: 'artifact-gateway',
      VIEWER_OIDC_CLIENT_SECRET: 'client-secret-marker-0123456789',
      VIEWER_POLICY_FILE: 'viewers.json',
    };

    it('reads the issuer as written, the scopes with openid, the callback path and the policy file', () => {
      const config = load({ ...full, VIEWER_OIDC_SCOPES: 'email groups' });
      expect(config.viewerLogin).toEqual({
        issuer: 'https://login.example.com/realms/acme',
        clientId: 'artifact-gateway',
        clientSecret: 'client-secret-marker-0123456789',
        clientSecretFile: undefined,
        scopes: ['openid', 'email', 'groups'],
        redirectPath: '/login/callback',
        policyFile: '/srv/gw/viewers.json',
        loginTtlSeconds: 3600,
      });
      expect(JSON.stringify(describeConfig(config))).not.toContain('client-secret-marker');
      expect(load({}).viewerLogin).toBeUndefined();
    });

    it('names every missing or conflicting piece', () => {
      expect(problemsOf({ VIEWER_OIDC_ISSUER: full.VIEWER_OIDC_ISSUER })).toEqual([
        'VIEWER_OIDC_CLIENT_ID: required with VIEWER_OIDC_ISSUER',
        'VIEWER_OIDC_CLIENT_SECRET / VIEWER_OIDC_CLIENT_SECRET_FILE: set one of them with VIEWER_OIDC_ISSUER',
        'VIEWER_POLICY_FILE: required with VIEWER_OIDC_ISSUER (who may view which project)',
      ]);
      expect(problemsOf({ ...full, VIEWER_OIDC_CLIENT_SECRET_FILE: '/run/secrets/oidc' })).toEqual([
        'VIEWER_OIDC_CLIENT_SECRET / VIEWER_OIDC_CLIENT_SECRET_FILE: set one of them with VIEWER_OIDC_ISSUER',
      ]);
      expect(problemsOf({ ...full, VIEWER_OIDC_ISSUER: 'http://login.example.com' })).toEqual([
        'VIEWER_OIDC_ISSUER: must be an https URL (http only on a loopback host), got "http://login.example.com"',
      ]);
      expect(problemsOf({ ...full, VIEWER_OIDC_REDIRECT_PATH: '/api/v1/callback' })).toEqual([
        'VIEWER_OIDC_REDIRECT_PATH: /api/v1/callback is a route of the gateway already',
      ]);
      expect(problemsOf({ ...full, VIEWER_OIDC_REDIRECT_PATH: 'https://evil.example/cb' })[0]).toMatch(/^VIEWER_OIDC_REDIRECT_PATH: expected a path/);
      expect(problemsOf({ ...full, PUBLIC_URL: 'http://artifacts.example.com' })).toEqual([
        'VIEWER_OIDC_ISSUER: people sign in only with an https PUBLIC_URL (its cookies are Secure); http only on a loopback host',
      ]);
      expect(load({ VIEWER_OIDC_CLIENT_ID: 'x' }).warnings).toContain('VIEWER_OIDC_CLIENT_ID is ignored: VIEWER_OIDC_ISSUER is not set');
    });
  });
});
