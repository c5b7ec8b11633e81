/**
 * Who a build tool's cache request speaks for: the job token, sent as the tool can send it.
 * Bearer for turbo, Nx and Bazel (`--remote_header`); HTTP Basic with the token as the password
 * for Gradle and ccache, whose clients speak nothing else. The project is always the token's:
 * these protocols have no project in their paths, so nothing in a request can name another one.
 */
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type JobIdentity, type TokenVerifier } from '../auth/job-token';
import { UnauthorizedError } from '../errors';

export type CacheAccess = 'cache:read' | 'cache:write';

export async function protocolJob(ctx: Context, tokens: TokenVerifier, access: CacheAccess): Promise<JobIdentity> {
  const basic = /^Basic ([A-Za-z0-9+/=]{1,8192})$/i.exec(ctx.get('authorization'));
  let job: JobIdentity;
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw basicRefused(ctx, 'Basic credentials must be "<any user>:<job token>"');
    try {
      job = await tokens.verify(decoded.slice(colon + 1));
    } catch (err) {
      basicRefused(ctx, '');
      throw err;
    }
  } else {
    job = await requireJob(ctx, tokens);
  }
  authorize(job, { project: job.project, scope: access });
  return job;
}

function basicRefused(ctx: Context, message: string): UnauthorizedError {
  // Gradle sends credentials only after a challenge that names Basic
  ctx.set('WWW-Authenticate', 'Basic realm="artifact-gateway", charset="UTF-8"');
  return new UnauthorizedError(message);
}
