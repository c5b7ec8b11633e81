/**
 * Administering a project's caches on the API host (token-authenticated JSON), what
 * `gh cache list|delete` and GitHub's cache REST API give GitHub's users (admin.ts):
 *   GET    /api/v1/projects/{project}/cache-entries?prefix&scope&sort&order&limit&pageToken   list (cache:read)
 *   DELETE /api/v1/projects/{project}/cache-entries?key=K | prefix=P | all=true [&scope=S]    delete (cache:delete)
 *   GET    /api/v1/projects/{project}/cache-usage                                              usage and quota (cache:read)
 * Who may see and delete what is caches/scopes.ts's rule: a pull request never makes a trusted
 * scope miss. Each deletion writes one audit line per scope it touched.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type JobIdentity, type TokenVerifier } from '../auth/job-token';
import { BadRequestError } from '../errors';
import type { Logger } from '../http/logger';
import { pathParam } from '../http/params';
import type { RequestState } from '../http/request-context';
import { checkId, type Scope as TokenScope } from '../ids';
import { toCacheKey } from '../storage/keys';
import { SCOPE_PATTERN } from './scopes';
import type { CacheAdmin, DeleteTarget } from './admin';
import { defaultOrder, MAX_PAGE, ORDERS, SORTS, type Order, type Sort } from './admin-query';

export interface CacheAdminDeps {
  admin: CacheAdmin;
  tokens: TokenVerifier;
  audit: Logger;
}

const BASE = '/api/v1/projects/:project';
const DEFAULT_LIMIT = 30;

/** A query parameter given at most once, or undefined. */
function single(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new BadRequestError(`${name} may be given once`);
  return v;
}

function oneOf<T extends string>(ctx: Context, name: string, allowed: readonly T[]): T | undefined {
  const v = single(ctx, name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new BadRequestError(`${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

function scopeParam(ctx: Context): string | undefined {
  const v = single(ctx, 'scope');
  if (v === undefined) return undefined;
  if (!SCOPE_PATTERN.test(v)) {
    throw new BadRequestError(
      `scope ${JSON.stringify(v)} names no cache scope (expected branch:<branch>, untrusted:<branch> or content-addressed)`,
      'invalid_scope',
    );
  }
  return v;
}

function prefixParam(ctx: Context): string | undefined {
  const v = single(ctx, 'prefix');
  return v === undefined ? undefined : toCacheKey(v, { prefix: true });
}

export function cacheAdminRoutes(deps: CacheAdminDeps): Router<RequestState> {
  const { admin, tokens, audit } = deps;
  const router = new Router<RequestState>();

  async function job(ctx: Context, scope: TokenScope): Promise<{ project: string; job: JobIdentity }> {
    const project = checkId('project', pathParam(ctx, 'project'));
    const id = await requireJob(ctx, tokens);
    authorize(id, { project, scope });
    return { project, job: id };
  }

  router.get(`${BASE}/cache-entries`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:read');
    const rawLimit = single(ctx, 'limit');
    if (rawLimit !== undefined && !/^\d{1,4}$/.test(rawLimit)) throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_PAGE}`);
    const limit = rawLimit === undefined ? DEFAULT_LIMIT : Number(rawLimit);
    if (limit < 1 || limit > MAX_PAGE) throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_PAGE}`);
    const sort: Sort = oneOf(ctx, 'sort', SORTS) ?? 'last-used';
    const order: Order = oneOf(ctx, 'order', ORDERS) ?? defaultOrder(sort);
    const page = await admin.list(j, project, {
      prefix: prefixParam(ctx),
      scope: scopeParam(ctx),
      sort,
      order,
      limit,
      pageToken: single(ctx, 'pageToken'),
    });
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = page;
  });

  router.get(`${BASE}/cache-usage`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:read');
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = await admin.usage(j, project);
  });

  router.delete(`${BASE}/cache-entries`, async (ctx) => {
    const { project, job: j } = await job(ctx, 'cache:delete');
    const key = single(ctx, 'key');
    const prefix = prefixParam(ctx);
    const all = single(ctx, 'all');
    if (all !== undefined && all !== 'true') throw new BadRequestError('all must be true when given');
    const named = [key, prefix, all].filter((v) => v !== undefined).length;
    // a mistyped parameter must not turn into "delete everything": exactly one target, by name
    if (named !== 1) throw new BadRequestError('name what to delete: exactly one of key, prefix or all=true');
    const target: DeleteTarget = key !== undefined ? { key: toCacheKey(key) } : prefix !== undefined ? { prefix } : { all: true };
    const scope = scopeParam(ctx);
    const result = await admin.delete(j, project, target, scope);
    const byScope = new Map<string, { keys: string[]; bytes: number }>();
    for (const d of result.deleted) {
      const s = byScope.get(d.scope) ?? { keys: [], bytes: 0 };
      s.keys.push(d.key);
      s.bytes += d.size;
      byScope.set(d.scope, s);
    }
    for (const [s, { keys, bytes }] of byScope) {
      audit.info(
        {
          audit: 'cache.delete',
          reqId: ctx.state.requestId,
          who: { subject: j.subject, project: j.project, branch: j.branch, build: j.build, trusted: j.trusted },
          what: { project, scope: s, by: Object.keys(target)[0], ...('prefix' in target ? { prefix: target.prefix } : {}), keys, count: keys.length, bytes },
        },
        'cache entries deleted',
      );
    }
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = result;
  });

  return router;
}
