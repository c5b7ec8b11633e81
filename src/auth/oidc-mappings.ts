/**
 * What each CI's OIDC ID token says about a job, in the gateway's terms: which repository, which
 * build, which branch (named so that its cache scope is its own), and whether anything in the
 * token rules trust out (a pull request, a fork). Every claim read here is one the CI documents;
 * the page is cited beside each mapping. Whether a job IS trusted is decided with the policy
 * (oidc.ts): a mapping only says what the CI asserts, never what the job would like.
 */
import type { JWTPayload } from 'jose';
import { UnauthorizedError } from '../errors';
import type { GenericMapping, MappingName } from './oidc-policy';

export interface MappedClaims {
  /** The repository as the policy's patterns name it (e.g. `acme/web`). */
  repository: string;
  build: string;
  /** The branch the job's cache scope is named after: its own, or one naming its pull request. */
  branch: string;
  /** The branch a pull request targets, when the token says. */
  baseBranch?: string;
  /** Why this job can never be trusted, whatever its branch (e.g. `event pull_request`). */
  untrusted?: string;
  /** The ref is a branch (not a tag, not a pull request): only branches are matched against trustedBranches. */
  refIsBranch: boolean;
  /** The CI's own word on whether the ref is protected; undefined when its tokens say nothing. */
  refProtected?: boolean;
}

type Mapper = (p: JWTPayload) => MappedClaims;

function claim(p: JWTPayload, name: string): string {
  const v = p[name];
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v !== 'string' || v === '' || v.length > 1024 || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new UnauthorizedError(`OIDC token rejected: claim "${name}" is missing or malformed`);
  }
  return v;
}

function optionalClaim(p: JWTPayload, name: string): string | undefined {
  return p[name] === undefined || p[name] === '' || p[name] === null ? undefined : claim(p, name);
}

/** "true"/"false" as GitHub and GitLab write them, or a JSON boolean. */
function flag(p: JWTPayload, name: string): boolean | undefined {
  const v = p[name];
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return undefined;
}

/** refs/heads/x -> branch x; refs/tags/v1 -> `tag:v1` (git forbids ':' in ref names, so no branch can be called that). */
function fromRef(ref: string): { branch: string; refIsBranch: boolean; pull?: string } {
  const pull = /^refs\/pull\/(\d+)\/(merge|head)$/.exec(ref);
  if (pull) return { branch: `pull/${pull[1]}`, refIsBranch: false, pull: pull[1] };
  if (ref.startsWith('refs/heads/')) return { branch: ref.slice('refs/heads/'.length), refIsBranch: true };
  if (ref.startsWith('refs/tags/')) return { branch: `tag:${ref.slice('refs/tags/'.length)}`, refIsBranch: false };
  if (ref.startsWith('refs/')) return { branch: `ref:${ref.slice('refs/'.length)}`, refIsBranch: false };
  return { branch: ref, refIsBranch: true };
}

/**
 * GitHub Actions (and GitHub Enterprise Server, issuer https://HOST/_services/token). Claims:
 * https://docs.github.com/en/actions/reference/security/oidc
 * - repository: `owner/repo` the workflow runs in (for a pull request from a fork: the base repository).
 * - run_id, run_attempt: the workflow run and its attempt; the build is `<run_id>-<run_attempt>`,
 *   so a re-run writes a build of its own ($GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT).
 * - ref: `refs/heads/<branch>`, `refs/tags/<tag>`, or `refs/pull/<n>/merge` for pull_request events.
 * - ref_protected: "true" if protections or rulesets are active on the ref.
 * - event_name: what triggered the run. Only push, schedule and workflow_dispatch may be trusted:
 *   pull_request_target, workflow_run and issue_comment run on the base branch's ref (with
 *   ref_protected "true") for code or input a stranger controls.
 * - base_ref, head_ref: the target and source branch of a pull request.
 */
const TRUSTED_GITHUB_EVENTS = new Set(['push', 'schedule', 'workflow_dispatch']);
const github: Mapper = (p) => {
  const event = claim(p, 'event_name');
  const ref = fromRef(claim(p, 'ref'));
  const mapped: MappedClaims = {
    repository: claim(p, 'repository'),
    build: `${claim(p, 'run_id')}-${claim(p, 'run_attempt')}`,
    branch: ref.branch,
    refIsBranch: ref.refIsBranch,
    refProtected: flag(p, 'ref_protected'),
  };
  if (!TRUSTED_GITHUB_EVENTS.has(event)) {
    mapped.untrusted = `event ${event}`;
    mapped.baseBranch = optionalClaim(p, 'base_ref');
    // a pull_request_target (or workflow_run…) job has the base branch in ref: its scope must name
    // where the code came from instead, so two forks' `patch-1` do not share one
    if (ref.pull === undefined) mapped.branch = `${event}/${claim(p, 'actor')}/${optionalClaim(p, 'head_ref') ?? ref.branch}`;
  }
  return mapped;
};

/**
 * GitLab CI/CD ID tokens (`id_tokens:` in .gitlab-ci.yml). Claims:
 * https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
 * - project_path: `group/project` (subgroups allowed); for a merge request from a fork, the fork's.
 * - pipeline_id: the pipeline ($CI_PIPELINE_ID), the build.
 * - ref, ref_type (branch or tag), ref_path (`refs/heads/…`, `refs/merge-requests/<iid>/head`).
 * - ref_protected: "true" if the ref is protected.
 * - pipeline_source: merge_request_event and external_pull_request_event are never trusted.
 */
const UNTRUSTED_GITLAB_SOURCES = new Set(['merge_request_event', 'external_pull_request_event']);
const gitlab: Mapper = (p) => {
  const source = claim(p, 'pipeline_source');
  const ref = claim(p, 'ref');
  const refType = claim(p, 'ref_type');
  const mapped: MappedClaims = {
    repository: claim(p, 'project_path'),
    build: claim(p, 'pipeline_id'),
    branch: refType === 'branch' ? ref : `${refType}:${ref}`,
    refIsBranch: refType === 'branch',
    refProtected: flag(p, 'ref_protected'),
  };
  if (UNTRUSTED_GITLAB_SOURCES.has(source)) {
    mapped.untrusted = `pipeline_source ${source}`;
    const mr = /^refs\/merge-requests\/(\d+)\//.exec(optionalClaim(p, 'ref_path') ?? '');
    mapped.branch = mr ? `mr/${mr[1]}` : `mr/${ref}`;
  }
  return mapped;
};

/**
 * CircleCI (issuer https://oidc.circleci.com/org/<org-id>, aud the org id unless customised).
 * Claims: https://circleci.com/docs/openid-connect-tokens/
 * - oidc.circleci.com/vcs-origin: the repository URL without scheme (`github.com/acme/web`), what
 *   the policy's patterns match; oidc.circleci.com/project-id when a token has no vcs-origin.
 * - oidc.circleci.com/pipeline-id: the pipeline (`<< pipeline.id >>`), the build.
 * - oidc.circleci.com/vcs-ref: `refs/heads/main`; absent for pipelines triggered by custom webhooks.
 * - oidc.circleci.com/ssh-rerun: true when the job was re-run with SSH; never trusted.
 * Tokens reach fork builds only when "Pass secrets to builds from forked pull requests" is on; they
 * carry no pull request claim, so trust rests on trustedBranches (no protected-ref claim either).
 */
const circleci: Mapper = (p) => {
  const ref = fromRef(claim(p, 'oidc.circleci.com/vcs-ref'));
  const mapped: MappedClaims = {
    repository: optionalClaim(p, 'oidc.circleci.com/vcs-origin') ?? claim(p, 'oidc.circleci.com/project-id'),
    build: claim(p, 'oidc.circleci.com/pipeline-id'),
    branch: ref.branch,
    refIsBranch: ref.refIsBranch,
  };
  if (p['oidc.circleci.com/ssh-rerun'] === true) mapped.untrusted = 'an SSH re-run';
  return mapped;
};

/**
 * Buildkite (`buildkite-agent oidc request-token --audience …`, issuer https://agent.buildkite.com,
 * shared by every Buildkite organization: the policy's patterns must name the organization).
 * Claims: https://buildkite.com/docs/agent/v3/cli-oidc
 * - organization_slug, pipeline_slug: the repository is `<organization_slug>/<pipeline_slug>`.
 * - build_number: the build ($BUILDKITE_BUILD_NUMBER).
 * - build_branch: the branch; a third-party fork's branch is `owner:branch` when the pipeline
 *   prefixes fork branch names (prefixPullRequestForkBranchNames,
 *   https://buildkite.com/docs/apis/graphql/schemas/object/repositoryprovidergithubsettings),
 *   and such a branch is never trusted.
 * No pull request or protected-ref claim: trust rests on trustedBranches.
 */
const buildkite: Mapper = (p) => {
  const branch = claim(p, 'build_branch');
  const mapped: MappedClaims = {
    repository: `${claim(p, 'organization_slug')}/${claim(p, 'pipeline_slug')}`,
    build: claim(p, 'build_number'),
    branch,
    refIsBranch: true,
  };
  if (branch.includes(':')) mapped.untrusted = 'a branch of a third-party fork';
  return mapped;
};

/** Another issuer, with the claim names its policy entry gives. */
function generic(names: GenericMapping): Mapper {
  return (p) => {
    const ref = fromRef(claim(p, names.ref));
    const mapped: MappedClaims = {
      repository: claim(p, names.repository),
      build: claim(p, names.build),
      branch: ref.branch,
      refIsBranch: ref.refIsBranch,
      refProtected: names.protected === undefined ? undefined : flag(p, names.protected),
    };
    const pr = names.pullRequest === undefined ? undefined : p[names.pullRequest];
    if (ref.pull !== undefined) mapped.untrusted = 'a pull request';
    if (pr !== undefined && pr !== null && pr !== false && pr !== '' && pr !== 'false') {
      mapped.untrusted = 'a pull request';
      if (ref.pull === undefined)
        mapped.branch = typeof pr === 'string' || typeof pr === 'number' ? `pull/${claim(p, names.pullRequest!)}` : `pull/${ref.branch}`;
    }
    if (mapped.untrusted && names.baseRef !== undefined) {
      const base = optionalClaim(p, names.baseRef);
      mapped.baseBranch = base === undefined ? undefined : fromRef(base).branch;
    }
    return mapped;
  };
}

const BUILT_IN: Record<MappingName, Mapper> = { github, gitlab, circleci, buildkite };

export function mapperFor(mapping: MappingName | GenericMapping): Mapper {
  return typeof mapping === 'string' ? BUILT_IN[mapping] : generic(mapping);
}
