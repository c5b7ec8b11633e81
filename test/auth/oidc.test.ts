/**
 * OIDC ID tokens of CI issuers, verified by the gateway's verifier against real issuers on
 * loopback (discovery document, JWKS, keys generated and tokens signed with jose): each CI's
 * documented claims map to the right project, build, branch and trust; every way a token or an
 * issuer can be wrong is refused with the right status and a reason that never holds the token.
 */
import { SignJWT } from 'jose';
import type { JobIdentity } from '../../src/auth/job-token';
import { createOidcVerifier, type OidcVerifier } from '../../src/auth/oidc';
import { parsePolicy, PolicyError } from '../../src/auth/oidc-policy';
import { ForbiddenError, IssuerUnavailableError, UnauthorizedError } from '../../src/errors';
import { BUILDKITE_EXAMPLE, CIRCLE_ORG, CIRCLECI_EXAMPLE, GITHUB_EXAMPLE, GITHUB_PULL_REQUEST, GITLAB_EXAMPLE, reissued } from '../support/oidc-fixtures';
import { startIssuer, type TestIssuer } from '../support/oidc-issuer';

const AUD = 'https://artifacts.example.com';
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('OIDC ID tokens of CI issuers', () => {
  let gh: TestIssuer;
  let ghes: TestIssuer;
  let gl: TestIssuer;
  let circle: TestIssuer;
  let bk: TestIssuer;
  let verifier: OidcVerifier;

  const policyFor = () => ({
    issuers: [
      {
        issuer: gh.url,
        audience: AUD,
        mapping: 'github',
        projects: [{ repository: 'octo-org/*', project: 'octo/{1}', trustedBranches: ['main', 'release/*'] }],
      },
      { issuer: ghes.url, audience: [AUD, 'other'], mapping: 'github', projects: [{ repository: 'corp/monorepo', project: 'corp/mono' }] },
      { issuer: gl.url, audience: AUD, mapping: 'gitlab', defaultBranch: 'master', projects: [{ repository: 'my-group/*', project: 'gl/{1}' }] },
      { issuer: circle.url, audience: CIRCLE_ORG, mapping: 'circleci', projects: [{ repository: 'github.com/acme-inc/*', project: 'acme/{1}' }] },
      {
        issuer: bk.url,
        audience: AUD,
        mapping: 'buildkite',
        scopes: ['artifacts:write', 'artifacts:read', 'cache:read', 'cache:write'],
        projects: [{ repository: 'acme-inc/*', project: 'bk/{1}' }],
      },
    ],
  });
  const make = (timeoutMs = 1000, cooldownMs = 400) => createOidcVerifier({ policy: parsePolicy(JSON.stringify(policyFor())), timeoutMs, cooldownMs });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => new Error('verified, but should have been refused'),
      (e: unknown) => e as Error,
    );

  beforeAll(async () => {
    [gh, ghes, gl, circle, bk] = await Promise.all([
      startIssuer(),
      startIssuer({ path: '/_services/token' }),
      startIssuer({ alg: 'ES256' }),
      startIssuer({ path: `/org/${CIRCLE_ORG}` }),
      startIssuer({ alg: 'ES256' }),
    ]);
    verifier = make();
  });
  afterAll(() => Promise.all([gh, ghes, gl, circle, bk].map((i) => i?.close())));

  describe('the documented claims of each CI', () => {
    it('GitHub Actions: the documentation example (workflow_dispatch on main) is a trusted job of the mapped project', async () => {
      const id = await verifier.verify(await gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD)));
      expect(id).toEqual<JobIdentity>({
        subject: `${gh.url}#repo:octo-org/octo-repo:environment:prod`,
        project: 'octo/octo-repo',
        build: 'example-run-id-2',
        branch: 'main',
        baseBranch: undefined,
        defaultBranch: 'main',
        trusted: true,
        scopes: new Set(['artifacts:write', 'cache:read', 'cache:write']),
      });
    });

    it('GitHub Actions: a pull request is untrusted, scoped to pull/<n>, reading its base branch', async () => {
      const id = await verifier.verify(await gh.sign(reissued(GITHUB_PULL_REQUEST, gh.url, AUD)));
      expect(id).toMatchObject({ project: 'octo/octo-repo', build: '8001-1', branch: 'pull/7', baseBranch: 'main', trusted: false });
    });

    it.each([
      ['pull_request_target on main with ref_protected "true"', { event_name: 'pull_request_target', ref: 'refs/heads/main', ref_protected: 'true' }],
      ['workflow_run on main', { event_name: 'workflow_run', ref: 'refs/heads/main', ref_protected: 'true', head_ref: '' }],
      ['issue_comment on main', { event_name: 'issue_comment', ref: 'refs/heads/main' }],
    ])('GitHub Actions: a PR-triggered run claiming a protected branch (%s) is untrusted, in a scope of its own', async (_what, o) => {
      const id = await verifier.verify(await gh.sign(reissued(GITHUB_PULL_REQUEST, gh.url, AUD, o)));
      expect(id.trusted).toBe(false);
      expect(id.branch).not.toBe('main');
      expect(id.branch).toMatch(new RegExp(`^${o.event_name}/stranger/`));
    });

    it.each([
      ['a push to a listed branch pattern', { event_name: 'push', ref: 'refs/heads/release/1.2' }, 'release/1.2', true],
      ['a push to a protected branch not listed', { event_name: 'push', ref: 'refs/heads/stable', ref_protected: 'true' }, 'stable', true],
      ['a push to an unprotected, unlisted branch', { event_name: 'push', ref: 'refs/heads/feature/x', ref_protected: 'false' }, 'feature/x', false],
      ['a push of an unprotected tag', { event_name: 'push', ref: 'refs/tags/v1.0', ref_type: 'tag' }, 'tag:v1.0', false],
      ['a push of a protected tag', { event_name: 'push', ref: 'refs/tags/v1.0', ref_type: 'tag', ref_protected: 'true' }, 'tag:v1.0', true],
      ['a schedule on main', { event_name: 'schedule' }, 'main', true],
      ['a release event on main', { event_name: 'release' }, 'release/octocat/main', false],
    ])('GitHub Actions: %s', async (_what, o, branch, trusted) => {
      const id = await verifier.verify(await gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD, o)));
      expect(id).toMatchObject({ branch, trusted });
    });

    it('GitHub Enterprise Server: an issuer with a path (https://HOST/_services/token) and one of several audiences', async () => {
      const id = await verifier.verify(await ghes.sign(reissued(GITHUB_EXAMPLE, ghes.url, 'other', { repository: 'corp/monorepo', event_name: 'push' })));
      expect(id).toMatchObject({ project: 'corp/mono', trusted: true, branch: 'main' });
    });

    it('GitLab: the documentation example (a push to an unprotected feature branch) is untrusted on its branch', async () => {
      const id = await verifier.verify(await gl.sign(reissued(GITLAB_EXAMPLE, gl.url, AUD)));
      expect(id).toMatchObject({ project: 'gl/my-project', build: '574', branch: 'feature-branch-1', defaultBranch: 'master', trusted: false });
    });

    it.each([
      ['a push to a protected branch', { ref: 'main', ref_path: 'refs/heads/main', ref_protected: 'true' }, 'main', true],
      ['a push to the default branch of the policy', { ref: 'master', ref_path: 'refs/heads/master' }, 'master', true],
      ['a protected tag', { ref: 'v2', ref_type: 'tag', ref_path: 'refs/tags/v2', ref_protected: 'true' }, 'tag:v2', true],
      [
        'a merge request pipeline claiming a protected branch',
        { pipeline_source: 'merge_request_event', ref: 'main', ref_path: 'refs/merge-requests/12/head', ref_protected: 'true' },
        'mr/12',
        false,
      ],
      [
        'an external pull request pipeline',
        { pipeline_source: 'external_pull_request_event', ref: 'master', ref_path: 'refs/heads/master' },
        'mr/master',
        false,
      ],
    ])('GitLab: %s', async (_what, o, branch, trusted) => {
      const id = await verifier.verify(await gl.sign(reissued(GITLAB_EXAMPLE, gl.url, AUD, o)));
      expect(id).toMatchObject({ branch, trusted });
    });

    it('CircleCI: the documented claims (org id as aud, vcs-origin, vcs-ref, pipeline-id) are a trusted main job', async () => {
      const id = await verifier.verify(await circle.sign(reissued(CIRCLECI_EXAMPLE, circle.url, CIRCLE_ORG)));
      expect(id).toMatchObject({ project: 'acme/api', build: CIRCLECI_EXAMPLE['oidc.circleci.com/pipeline-id'], branch: 'main', trusted: true });
    });

    it.each([
      ['a fork pull request ref', { 'oidc.circleci.com/vcs-ref': 'refs/pull/9/head' }, 'pull/9', false],
      ['an SSH re-run on main', { 'oidc.circleci.com/ssh-rerun': true }, 'main', false],
      ['another branch', { 'oidc.circleci.com/vcs-ref': 'refs/heads/dev' }, 'dev', false],
    ])('CircleCI: %s is untrusted', async (_what, o, branch, trusted) => {
      const id = await verifier.verify(await circle.sign(reissued(CIRCLECI_EXAMPLE, circle.url, CIRCLE_ORG, o)));
      expect(id).toMatchObject({ branch, trusted });
    });

    it('Buildkite: the documentation example is a trusted main build of <org>/<pipeline>, with the scopes its rule gives', async () => {
      const id = await verifier.verify(await bk.sign(reissued(BUILDKITE_EXAMPLE, bk.url, AUD)));
      expect(id).toMatchObject({ project: 'bk/super-duper-app', build: '1', branch: 'main', trusted: true });
      expect(id.scopes).toEqual(new Set(['artifacts:write', 'artifacts:read', 'cache:read', 'cache:write']));
    });

    it("Buildkite: a third-party fork's prefixed branch (owner:main) is untrusted", async () => {
      const id = await verifier.verify(await bk.sign(reissued(BUILDKITE_EXAMPLE, bk.url, AUD, { build_branch: 'mallory:main' })));
      expect(id).toMatchObject({ branch: 'mallory:main', trusted: false });
    });

    it('a generic mapping reads the claim names its policy gives', async () => {
      const other = await startIssuer();
      try {
        const v = createOidcVerifier({
          policy: parsePolicy(
            JSON.stringify({
              issuers: [
                {
                  issuer: other.url,
                  audience: AUD,
                  mapping: { repository: 'repo', build: 'build_id', ref: 'git_ref', protected: 'protected', pullRequest: 'pr', baseRef: 'target' },
                  projects: [{ repository: 'team/*', project: 'team/{1}' }],
                },
              ],
            }),
          ),
          timeoutMs: 1000,
          cooldownMs: 400,
        });
        const push = await v.verify(await other.sign({ aud: AUD, repo: 'team/app', build_id: '77', git_ref: 'refs/heads/trunk', protected: true }));
        expect(push).toMatchObject({ project: 'team/app', build: '77', branch: 'trunk', trusted: true });
        const pr = await v.verify(
          await other.sign({ aud: AUD, repo: 'team/app', build_id: '78', git_ref: 'trunk', protected: true, pr: 31, target: 'refs/heads/trunk' }),
        );
        expect(pr).toMatchObject({ branch: 'pull/31', baseBranch: 'trunk', trusted: false });
      } finally {
        await other.close();
      }
    });
  });

  describe('refusals', () => {
    it.each<[string, () => Promise<string>, typeof UnauthorizedError | typeof ForbiddenError, RegExp]>([
      [
        'an unknown issuer',
        () => gh.sign(reissued(GITHUB_EXAMPLE, 'https://evil.example', AUD)),
        UnauthorizedError,
        /issuer "https:\/\/evil.example" is not trusted/,
      ],
      [
        'a wrong audience',
        () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, 'https://github.com/octo-org')),
        UnauthorizedError,
        /audience \(aud\) is not "https:\/\/artifacts.example.com"/,
      ],
      ['an expired token', () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD), { expiresIn: -120 }), UnauthorizedError, /has expired/],
      [
        'a token not valid yet',
        () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD), { notBefore: Math.floor(Date.now() / 1000) + 600 }),
        UnauthorizedError,
        /not valid yet/,
      ],
      [
        'a bad signature (a key the issuer never published, under its kid)',
        async () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD), { key: await gh.foreignKey(), kid: gh.current().kid }),
        UnauthorizedError,
        /signature does not verify/,
      ],
      [
        'alg: none',
        async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...reissued(GITHUB_EXAMPLE, gh.url, AUD), exp: 9999999999 })}.`,
        UnauthorizedError,
        /algorithm is not accepted/,
      ],
      [
        'HS256 signed with the public key (key confusion)',
        async () =>
          new SignJWT({ ...reissued(GITHUB_EXAMPLE, gh.url, AUD) })
            .setProtectedHeader({ alg: 'HS256', kid: gh.current().kid })
            .setExpirationTime('5m')
            .sign(Buffer.from(JSON.stringify(gh.current().jwk))),
        UnauthorizedError,
        /algorithm is not accepted/,
      ],
      [
        'a repository outside the policy',
        () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD, { repository: 'mallory/octo-repo' })),
        ForbiddenError,
        /repository "mallory\/octo-repo" of issuer .* is not allowed/,
      ],
      [
        'a repository that only looks like an allowed one',
        () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD, { repository: 'octo-org/a/b' })),
        ForbiddenError,
        /not allowed/,
      ],
      [
        'another issuer entry’s repository',
        () => ghes.sign(reissued(GITHUB_EXAMPLE, ghes.url, AUD)),
        ForbiddenError,
        /"octo-org\/octo-repo" of issuer .*_services\/token is not allowed/,
      ],
      [
        'a token without the claims of its mapping',
        () => gh.sign(reissued(GITHUB_EXAMPLE, gh.url, AUD, { run_id: undefined })),
        UnauthorizedError,
        /claim "run_id" is missing/,
      ],
      [
        'a Buildkite token of another organization',
        () => bk.sign(reissued(BUILDKITE_EXAMPLE, bk.url, AUD, { organization_slug: 'other-org' })),
        ForbiddenError,
        /"other-org\/super-duper-app"/,
      ],
    ])('refuses %s with the right status and a reason, without echoing the token', async (_what, make, type, reason) => {
      const token = await make();
      const err = await refusal(verifier.verify(token));
      expect(err).toBeInstanceOf(type);
      expect(err.message).toMatch(reason);
      expect(err.message).not.toContain(token.split('.')[2] || token);
      expect(err.message).not.toContain(token.split('.')[1]);
    });
  });

  describe('when the issuer is down, slow or lying (503, not 401)', () => {
    afterEach(() => {
      for (const i of [gh, ghes, gl, circle, bk]) {
        i.jwks = 'ok';
        i.discovery = 'ok';
        i.discoveryIssuer = undefined;
      }
    });

    it.each([
      ['the JWKS answers 500', 'jwks', 'down', /JWKS/],
      ['the JWKS does not answer', 'jwks', 'no-answer', /JWKS/],
      ['the JWKS sends headers, then nothing', 'jwks', 'stalled-body', /JWKS/],
      ['discovery answers 500', 'discovery', 'down', /answered 500/],
      ['discovery does not answer', 'discovery', 'no-answer', /did not answer within 300 ms/],
      ['discovery sends headers, then nothing', 'discovery', 'stalled-body', /could not be read/],
    ] as const)('%s: IssuerUnavailableError within the timeout', async (_what, part, behaviour, reason) => {
      const fresh = make(300, 400);
      gl[part] = behaviour;
      const started = Date.now();
      const err = await refusal(fresh.verify(await gl.sign(reissued(GITLAB_EXAMPLE, gl.url, AUD))));
      expect(err.message).toMatch(reason);
      expect(err).toBeInstanceOf(IssuerUnavailableError);
      expect(Date.now() - started).toBeLessThan(2500);
      // and once it is back, the same verifier verifies (after the cooldown)
      gl[part] = 'ok';
      await new Promise((r) => setTimeout(r, 450));
      await expect(fresh.verify(await gl.sign(reissued(GITLAB_EXAMPLE, gl.url, AUD)))).resolves.toMatchObject({ project: 'gl/my-project' });
    });

    it('a discovery document naming another issuer is refused as unavailable, and its keys are never fetched', async () => {
      const fresh = make();
      gl.discoveryIssuer = 'https://gitlab.example.com';
      const jwksBefore = gl.counts.jwks;
      const err = await refusal(fresh.verify(await gl.sign(reissued(GITLAB_EXAMPLE, gl.url, AUD))));
      expect(err).toBeInstanceOf(IssuerUnavailableError);
      expect(err.message).toMatch(/names another issuer \("https:\/\/gitlab.example.com"\)/);
      expect(gl.counts.jwks).toBe(jwksBefore);
    });
  });

  describe('key rotation', () => {
    const COOLDOWN_PASSED_MS = 2050;
    it('verifies tokens of a new kid after refetching the JWKS, refetching at most once per cooldown', async () => {
      const issuer = await startIssuer();
      try {
        const v = createOidcVerifier({
          policy: parsePolicy(
            JSON.stringify({ issuers: [{ issuer: issuer.url, audience: AUD, mapping: 'github', projects: [{ repository: 'octo-org/*', project: 'o/{1}' }] }] }),
          ),
          timeoutMs: 1000,
          // long enough that a stalled CI machine cannot end it between two batches meant to fall inside it
          cooldownMs: 2000,
        });
        const claims = reissued(GITHUB_EXAMPLE, issuer.url, AUD);
        await expect(v.verify(await issuer.sign(claims))).resolves.toMatchObject({ project: 'o/octo-repo' });
        expect(issuer.counts).toEqual({ discovery: 1, jwks: 1 });

        // tokens with kids nobody published, all at once: one refetch at most, then refused
        await new Promise((r) => setTimeout(r, COOLDOWN_PASSED_MS));
        const forged = await Promise.all(Array.from({ length: 8 }, (_, i) => issuer.sign(claims, { kid: `made-up-${i}` })));
        const errs = await Promise.all(forged.map((t) => refusal(v.verify(t))));
        for (const e of errs) expect(e.message).toMatch(/no key the issuer publishes matches/);
        expect(issuer.counts.jwks).toBe(2);
        const more = await Promise.all(forged.map((t) => refusal(v.verify(t))));
        for (const e of more) expect(e).toBeInstanceOf(UnauthorizedError);
        expect(issuer.counts.jwks).toBe(2);

        // the issuer rotates: after the cooldown, a token of the new kid makes one refetch and verifies
        await issuer.rotate();
        await new Promise((r) => setTimeout(r, COOLDOWN_PASSED_MS));
        await expect(v.verify(await issuer.sign(claims))).resolves.toMatchObject({ project: 'o/octo-repo' });
        expect(issuer.counts.jwks).toBe(3);
        await expect(v.verify(await issuer.sign(claims))).resolves.toMatchObject({ project: 'o/octo-repo' });
        expect(issuer.counts).toEqual({ discovery: 1, jwks: 3 });
      } finally {
        await issuer.close();
      }
    });
  });

  describe('the policy file', () => {
    it.each([
      ['not JSON', '{', /not valid JSON/],
      ['no issuers', '{"issuers": []}', /at least one issuer/],
      [
        'an http issuer off loopback',
        { issuer: 'http://ci.example.com', audience: 'a', mapping: 'github', projects: [{ repository: 'a/*', project: 'a/{1}' }] },
        /https URL/,
      ],
      ['no audience', { issuer: 'https://ci.example.com', mapping: 'github', projects: [{ repository: 'a/*', project: 'a/{1}' }] }, /audience: required/],
      [
        'an unknown mapping',
        { issuer: 'https://ci.example.com', audience: 'a', mapping: 'jenkins', projects: [{ repository: 'a/*', project: 'a/{1}' }] },
        /not a built-in mapping/,
      ],
      [
        'HS256 among the algorithms',
        { issuer: 'https://ci.example.com', audience: 'a', mapping: 'github', algorithms: ['HS256'], projects: [{ repository: 'a/*', project: 'a' }] },
        /"HS256" is not accepted/,
      ],
      ['no project rules', { issuer: 'https://ci.example.com', audience: 'a', mapping: 'github', projects: [] }, /projects: required/],
      [
        'a placeholder without its *',
        { issuer: 'https://ci.example.com', audience: 'a', mapping: 'github', projects: [{ repository: 'a/b', project: 'a/{1}' }] },
        /\{1\} names no \*/,
      ],
      [
        'a misspelt key',
        { issuer: 'https://ci.example.com', audience: 'a', mapping: 'github', projects: [{ repository: 'a/*', project: 'a/{1}', trustedBranch: ['x'] }] },
        /unknown key "trustedBranch"/,
      ],
      [
        'an unknown scope',
        { issuer: 'https://ci.example.com', audience: 'a', mapping: 'github', scopes: ['admin'], projects: [{ repository: 'a/*', project: 'a/{1}' }] },
        /scopes: expected a list of scopes/,
      ],
    ])('refuses %s, saying where', (_what, doc, message) => {
      const text = typeof doc === 'string' ? doc : JSON.stringify({ issuers: [doc] });
      expect(() => parsePolicy(text)).toThrow(PolicyError);
      expect(() => parsePolicy(text)).toThrow(message);
    });
  });
});
