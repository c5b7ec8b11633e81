import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { authorize, createTokenVerifier, mintJobToken, type JobClaims } from '../../src/auth/job-token';
import { deriveKey } from '../../src/auth/keys';
import { ForbiddenError, UnauthorizedError } from '../../src/errors';

const secret = Buffer.from('job-token-test-secret-0123456789abcdef');
const key = deriveKey(secret, 'job-token');
const claims: JobClaims = {
  project: 'acme/web',
  build: '7',
  branch: 'feature/x',
  base_branch: 'main',
  default_branch: 'main',
  trusted: false,
  scope: 'artifacts:write artifacts:read',
};
const opts = { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 600 };
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('job tokens', () => {
  let verifier: Awaited<ReturnType<typeof createTokenVerifier>>;
  beforeAll(async () => {
    verifier = await createTokenVerifier({ source: { kind: 'hs256', key }, issuer: 'artifact-gateway', audience: 'artifact-gateway' });
  });

  it('verifies a minted token into the job identity', async () => {
    const id = await verifier.verify(await mintJobToken(key, claims, opts));
    expect(id).toEqual({
      subject: 'acme/web#7',
      project: 'acme/web',
      build: '7',
      branch: 'feature/x',
      baseBranch: 'main',
      defaultBranch: 'main',
      trusted: false,
      scopes: new Set(['artifacts:write', 'artifacts:read']),
    });
  });

  it('carries the commit a token names, and none when it names none or something else', async () => {
    expect((await verifier.verify(await mintJobToken(key, { ...claims, commit: 'ABCDEF1234567' }, opts))).commit).toBe('abcdef1234567');
    expect((await verifier.verify(await mintJobToken(key, { ...claims, commit: 'not a sha' }, opts))).commit).toBeUndefined();
    expect((await verifier.verify(await mintJobToken(key, claims, opts))).commit).toBeUndefined();
  });

  it.each([
    [
      'an unsigned token (alg: none)',
      async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: 'artifact-gateway', aud: 'artifact-gateway', exp: 9999999999 })}.`,
      /not accepted|not a well-formed/,
    ],
    [
      'a token signed with another key',
      async () => mintJobToken(deriveKey(Buffer.from('another-secret-another-secret-0000'), 'job-token'), claims, opts),
      /signature does not verify/,
    ],
    ['a token signed with the root secret instead of the derived key', async () => mintJobToken(secret, claims, opts), /signature does not verify/],
    ['an expired token', async () => mintJobToken(key, claims, { ...opts, expiresInSeconds: -120 }), /has expired/],
    ['a token for another issuer', async () => mintJobToken(key, claims, { ...opts, issuer: 'someone-else' }), /claim "iss"/],
    ['a token for another audience', async () => mintJobToken(key, claims, { ...opts, audience: 'another-service' }), /claim "aud"/],
    ['garbage', async () => 'not.a.jwt', /not a well-formed JWT/],
    ['a token without the project claim', async () => mintJobToken(key, { ...claims, project: '' }, opts), /claim "project"/],
    ['a token with a traversal in the project', async () => mintJobToken(key, { ...claims, project: '../etc' }, opts), /claim "project"/],
    ['a token with a non-boolean trusted claim', async () => mintJobToken(key, { ...claims, trusted: 'yes' as unknown as boolean }, opts), /claim "trusted"/],
  ])('rejects %s with 401 and a reason', async (_what, make, reason) => {
    const err = await verifier.verify(await make()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as Error).message).toMatch(reason);
  });

  it('rejects an HS256 token signed with the public key when keys are asymmetric (key confusion)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const pem = await exportSPKI(publicKey);
    const rsVerifier = await createTokenVerifier({
      source: { kind: 'public-key', pem, algorithm: 'RS256' },
      issuer: 'ci',
      audience: 'artifact-gateway',
    });
    const good = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('ci')
      .setAudience('artifact-gateway')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await rsVerifier.verify(good)).project).toBe('acme/web');
    const confused = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('ci')
      .setAudience('artifact-gateway')
      .setExpirationTime('5m')
      .sign(Buffer.from(pem));
    await expect(rsVerifier.verify(confused)).rejects.toThrow(/algorithm is not accepted/);
  });

  it('verifies tokens of an external issuer through its JWKS', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const jwksVerifier = await createTokenVerifier({ source: { kind: 'jwks', jwks: { keys: [jwk] } }, issuer: 'ci', audience: 'artifact-gateway' });
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('ci')
      .setAudience('artifact-gateway')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await jwksVerifier.verify(token)).build).toBe('7');
  });

  describe('authorize', () => {
    let id: Awaited<ReturnType<typeof verifier.verify>>;
    beforeAll(async () => {
      id = await verifier.verify(await mintJobToken(key, claims, opts));
    });
    it('allows its own project, build and scope', () => {
      expect(() => authorize(id, { project: 'acme/web', build: '7', scope: 'artifacts:write' })).not.toThrow();
    });
    it.each([
      [{ project: 'acme/api', build: '7', scope: 'artifacts:write' as const }, /for project "acme\/web", not "acme\/api"/],
      [{ project: 'acme/web', build: '8', scope: 'artifacts:write' as const }, /writes build "7" only/],
      [{ project: 'acme/web', scope: 'cache:write' as const }, /lacks the cache:write scope/],
    ])('forbids %j', (need, message) => {
      expect(() => authorize(id, need)).toThrow(ForbiddenError);
      expect(() => authorize(id, need)).toThrow(message);
    });
  });
});
