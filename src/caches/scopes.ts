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

/** What a scope looks like (here and keyed-cache.ts's `content-addressed`); anything else names no scope. */
export const SCOPE_PATTERN = /^(?:(?:branch|untrusted):[^\u0000-\u001f\u007f]{1,255}|content-addressed)$/;

/**
 * Administering a project's caches (listing, deleting) keeps the same wall: a pull request may
 * see and remove only what it could restore or wrote itself, never make a trusted scope miss.
 *
 * - Trusted scopes are the `branch:` scopes and the content-addressed one; every other scope
 *   (`untrusted:<branch>`) belongs to pull requests and forks.
 * - A trusted job lists every scope of its project; an untrusted job lists only its read scopes
 *   (its own, its base branch's, the default branch's): what its restores already reveal.
 * - A trusted job with `cache:delete` may delete in any scope of its project; an untrusted job with
 *   `cache:delete` only in its own write scope. Asking for any other scope is a 403, and every
 *   entry is checked again by the scope it is stored under, so a prefix match can never reach past
 *   this rule.
 */
/** Whether `job` may see the entries of `scope`. */
export function mayList(job: Pick<JobIdentity, 'trusted' | 'branch' | 'baseBranch' | 'defaultBranch'>, scope: string): boolean {
  return job.trusted || readScopes(job).includes(scope);
}

/** Whether `job` may delete the entries of `scope`. */
export function mayDelete(job: Pick<JobIdentity, 'trusted' | 'branch'>, scope: string): boolean {
  return job.trusted || scope === writeScope(job);
}
