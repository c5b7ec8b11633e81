/**
 * Deleting and pinning builds on the API host (job token):
 *   DELETE /api/v1/projects/{project}/builds/{build}                    the whole build (artifacts:delete)
 *   DELETE /api/v1/projects/{project}/builds/{build}/artifacts/{path}   a file, or a directory (path/ or a
 *                                                                       path that is a directory) (artifacts:delete)
 *   PUT    /api/v1/projects/{project}/builds/{build}/pin                keep the build from retention: artifacts:delete,
 *                                                                       or artifacts:write for the token's own build
 *   DELETE /api/v1/projects/{project}/builds/{build}/pin                let retention have it again (artifacts:delete)
 * `artifacts:delete` is project-wide, as `artifacts:read` is: it is for cleanup jobs and people's
 * tokens, not granted to CI jobs by default (neither by `token` nor by the OIDC policy). Every
 * change writes one audit line. What deletion keeps and frees: deletion.ts.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type JobIdentity, type TokenVerifier } from '../auth/job-token';
import { NotFoundError } from '../errors';
import type { Logger } from '../http/logger';
import { pathParam } from '../http/params';
import type { RequestState } from '../http/request-context';
import { checkId } from '../ids';
import { ArtifactDeletion } from './deletion';
import { decodePath } from './paths';
import type { ArtifactStore } from './store';
import type { Storage } from '../storage/storage';

export interface BuildAdminDeps {
  store: ArtifactStore;
  storage: Storage;
  tokens: TokenVerifier;
  audit: Logger;
  now?: () => number;
}

const BUILD = '/api/v1/projects/:project/builds/:build';
// anchored on the route's own segments, as the upload route's: a build named "artifacts" must not move it
const ARTIFACT_PATH = /^\/api\/v1\/projects\/[^/]+\/builds\/[^/]+\/artifacts\/(.*)$/;

function ids(ctx: Context): { project: string; build: string } {
  return { project: checkId('project', pathParam(ctx, 'project')), build: checkId('build', pathParam(ctx, 'build')) };
}

const who = (job: JobIdentity) => ({ subject: job.subject, project: job.project, build: job.build, branch: job.branch, trusted: job.trusted });

export function buildAdminRoutes(deps: BuildAdminDeps): Router<RequestState> {
  const { store, tokens, audit } = deps;
  const deletion = new ArtifactDeletion(store, deps.storage, deps.now);
  const router = new Router<RequestState>();

  router.delete(BUILD, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, scope: 'artifacts:delete' });
    const deleted = await deletion.deleteBuild(project, build, job.subject);
    audit.info({ audit: 'artifact.delete', reqId: ctx.state.requestId, who: who(job), what: { project, build, path: null, ...deleted } }, 'build deleted');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { project, build, path: null, files: deleted.files, bytes: deleted.bytes };
  });

  router.delete(`${BUILD}/artifacts/{*path}`, async (ctx) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    authorize(job, { project, scope: 'artifacts:delete' });
    const raw = ARTIFACT_PATH.exec(ctx.path)?.[1] ?? '';
    const dir = raw.endsWith('/');
    const path = decodePath(dir ? raw.slice(0, -1) : raw, 'artifact path');
    const deleted = await deletion.deletePath(project, build, path, job.subject, { dir });
    const shown = deleted.dir ? `${path}/` : path;
    audit.info(
      {
        audit: 'artifact.delete',
        reqId: ctx.state.requestId,
        who: who(job),
        what: { project, build, path: shown, files: deleted.files, bytes: deleted.bytes },
      },
      deleted.dir ? 'artifact directory deleted' : 'artifact deleted',
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { project, build, path: shown, files: deleted.files, bytes: deleted.bytes };
  });

  const pin = (pinned: boolean) => async (ctx: Context & { state: RequestState }) => {
    const { project, build } = ids(ctx);
    const job = await requireJob(ctx, tokens);
    // a job may keep the build it wrote (GitLab's expire_in: never, decided after the fact);
    // anything else changes what retention deletes, which is the delete scope's business
    const ownBuild = pinned && job.project === project && job.build === build && job.scopes.has('artifacts:write');
    if (ownBuild) authorize(job, { project, build, scope: 'artifacts:write' });
    else authorize(job, { project, scope: 'artifacts:delete' });
    if (!(await store.builds.record(project, build)) || (await store.builds.isDeleted(project, build))) {
      throw new NotFoundError(`no build ${build} in project ${project}`);
    }
    const before = await store.builds.setPinned(project, build, pinned, job.subject);
    audit.info(
      { audit: pinned ? 'artifact.pin' : 'artifact.unpin', reqId: ctx.state.requestId, who: who(job), what: { project, build }, changed: before !== pinned },
      pinned ? 'build pinned' : 'build unpinned',
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { project, build, pinned };
  };
  router.put(`${BUILD}/pin`, pin(true));
  router.delete(`${BUILD}/pin`, pin(false));

  return router;
}
