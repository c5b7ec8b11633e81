/**
 * The claim sets each CI documents for its OIDC ID tokens, copied from its documentation's example
 * (the page is cited with each). The tests sign them with a loopback issuer (oidc-issuer.ts) after
 * replacing only iss, aud and the times, and overriding what a case is about (event, ref…).
 */
import type { JWTPayload } from 'jose';

/**
 * GitHub Actions: the example token of
 * https://docs.github.com/en/actions/concepts/security/openid-connect (claims explained at
 * https://docs.github.com/en/actions/reference/security/oidc, which lists ref_protected; the
 * example does not carry it). run_id "example-run-id" is the page's own placeholder.
 */
export const GITHUB_EXAMPLE: JWTPayload = {
  jti: 'example-id',
  sub: 'repo:octo-org/octo-repo:environment:prod',
  environment: 'prod',
  aud: 'https://github.com/octo-org',
  ref: 'refs/heads/main',
  sha: 'example-sha',
  repository: 'octo-org/octo-repo',
  repository_owner: 'octo-org',
  actor_id: '12',
  repository_visibility: 'private',
  repository_id: '74',
  repository_owner_id: '65',
  run_id: 'example-run-id',
  run_number: '10',
  run_attempt: '2',
  runner_environment: 'github-hosted',
  actor: 'octocat',
  workflow: 'example-workflow',
  head_ref: '',
  base_ref: '',
  event_name: 'workflow_dispatch',
  ref_type: 'branch',
  job_workflow_ref: 'octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main',
  iss: 'https://token.actions.githubusercontent.com',
  nbf: 1632492967,
  exp: 1632493867,
  iat: 1632493567,
};

/** A pull_request run of the same repository, as GitHub sets ref, head_ref and base_ref for one. */
export const GITHUB_PULL_REQUEST: JWTPayload = {
  ...GITHUB_EXAMPLE,
  sub: 'repo:octo-org/octo-repo:pull_request',
  environment: undefined,
  ref: 'refs/pull/7/merge',
  ref_protected: 'false',
  head_ref: 'patch-1',
  base_ref: 'main',
  event_name: 'pull_request',
  run_id: '8001',
  run_attempt: '1',
  actor: 'stranger',
};

/**
 * GitLab CI/CD: the token payload example of
 * https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
 */
export const GITLAB_EXAMPLE: JWTPayload = {
  namespace_id: '72',
  namespace_path: 'my-group',
  project_id: '20',
  project_path: 'my-group/my-project',
  user_id: '1',
  user_login: 'sample-user',
  user_email: 'sample-user@example.com',
  user_identities: [
    { provider: 'github', extern_uid: '2435223452345' },
    { provider: 'bitbucket', extern_uid: 'john.smith' },
  ],
  pipeline_id: '574',
  pipeline_source: 'push',
  job_id: '302',
  ref: 'feature-branch-1',
  ref_type: 'branch',
  ref_path: 'refs/heads/feature-branch-1',
  ref_protected: 'false',
  groups_direct: ['mygroup/mysubgroup', 'myothergroup/myothersubgroup'],
  environment: 'test-environment2',
  environment_protected: 'false',
  deployment_tier: 'testing',
  environment_action: 'start',
  runner_id: 1,
  runner_environment: 'self-hosted',
  sha: '714a629c0b401fdce83e847fc9589983fc6f46bc',
  project_visibility: 'public',
  ci_config_ref_uri: 'gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main',
  ci_config_sha: '714a629c0b401fdce83e847fc9589983fc6f46bc',
  jti: '235b3a54-b797-45c7-ae9a-f72d7bc6ef5b',
  iss: 'https://gitlab.example.com',
  iat: 1681395193,
  nbf: 1681395188,
  exp: 1681398793,
  sub: 'project_path:my-group/my-project:ref_type:branch:ref:feature-branch-1',
  aud: 'https://vault.example.com',
};

export const CIRCLE_ORG = 'b6a2d5c4-2f51-4e2f-9d63-0cbb4d8f6e1a';
export const CIRCLE_PROJECT = '3c1e6e2b-8f0d-4a39-9e26-6f2a1f3e2d11';
const CIRCLE_USER = 'f4e9a0b1-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/**
 * CircleCI: the claims of the `$CIRCLE_OIDC_TOKEN_V2` table of
 * https://circleci.com/docs/openid-connect-tokens/ (the page has no whole example token; the
 * values follow each claim's description there: UUIDs for ids, `github.com/…` for vcs-origin,
 * `refs/heads/main` for vcs-ref, the org id as aud).
 */
export const CIRCLECI_EXAMPLE: JWTPayload = {
  iss: `https://oidc.circleci.com/org/${CIRCLE_ORG}`,
  sub: `org/${CIRCLE_ORG}/project/${CIRCLE_PROJECT}/user/${CIRCLE_USER}/vcs-origin/github.com/acme-inc/api/vcs-ref/refs/heads/main`,
  aud: CIRCLE_ORG,
  iat: 1700000000,
  exp: 1700003600,
  'oidc.circleci.com/project-id': CIRCLE_PROJECT,
  'oidc.circleci.com/context-ids': ['9e3c9a1c-7c4e-4b43-9b6f-2f6f3f0c7d21'],
  'oidc.circleci.com/vcs-origin': 'github.com/acme-inc/api',
  'oidc.circleci.com/vcs-ref': 'refs/heads/main',
  'oidc.circleci.com/ssh-rerun': false,
  'oidc.circleci.com/org-id': CIRCLE_ORG,
  'oidc.circleci.com/pipeline-id': '5a7d0f1e-3c2b-4d6a-9f8e-7b6c5d4e3f2a',
  'oidc.circleci.com/pipeline-definition-id': '0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a',
};

/** Buildkite: the example token of https://buildkite.com/docs/agent/v3/cli-oidc */
export const BUILDKITE_EXAMPLE: JWTPayload = {
  iss: 'https://agent.buildkite.com',
  sub: 'organization:acme-inc:pipeline:super-duper-app:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:build',
  aud: 'https://buildkite.com/acme-inc',
  iat: 1669014898,
  nbf: 1669014898,
  exp: 1669015198,
  organization_slug: 'acme-inc',
  pipeline_slug: 'super-duper-app',
  build_number: 1,
  build_branch: 'main',
  build_tag: 'v1.0.0',
  build_commit: '9f3182061f1e2cca4702c368cbc039b7dc9d4485',
  step_key: 'build',
  job_id: '0184990a-477b-4fa8-9968-496074483cee',
  agent_id: '0184990a-4782-42b5-afc1-16715b10b8ff',
  build_source: 'ui',
  runner_environment: 'buildkite-hosted',
};

/** A fixture as an issuer at `iss` signs it for `aud`: the example's times dropped, so the signer sets fresh ones. */
export function reissued(example: JWTPayload, iss: string, aud: string, overrides: JWTPayload = {}): JWTPayload {
  const claims: JWTPayload = { ...example, iss, aud, ...overrides };
  delete claims.iat;
  delete claims.nbf;
  delete claims.exp;
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete claims[k];
  return claims;
}
