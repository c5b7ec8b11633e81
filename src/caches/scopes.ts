/**
 * Cache scopes: where a job may write and what it may restore, so that a pull request or a fork
 * can never poison what the default branch restores (Cacheract 2024, TanStack CVE-2026-45321,
 * Nx CVE-2025-36852).
 *
 * - A trusted job (default or protected branch) writes `branch:<its branch>`.
 * - An untrusted job (pull request, fork) writes `untrusted:<its branch>`, a scope no trusted job
 *   ever reads. CIs should give untrusted jobs a branch claim that names the pull request
 *   (e.g. `pull/123`), so two forks' `patch-1` branches do not share a scope.
 * - Every job reads its own scope, then its base branch's trusted scope, then the default
 *   branch's (GitHub's order).
 */
import type { JobIdentity } from '../auth/job-token';

export function writeScope(job: Pick<JobIdentity, 'trusted' | 'branch'>): string {
  return `${job.trusted ? 'branch' : 'untrusted'}:${job.branch}`;
}

export function readScopes(job: Pick<JobIdentity, 'trusted' | 'branch' | 'baseBranch' | 'defaultBranch'>): string[] {
  const scopes = [writeScope(job)];
  if (job.baseBranch) scopes.push(`branch:${job.baseBranch}`);
  scopes.push(`branch:${job.defaultBranch}`);
  return [...new Set(scopes)];
}
