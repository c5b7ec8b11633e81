/**
 * Who a build tool's cache request speaks for: the job token, sent as the tool can send it.
 * Bearer for turbo, Nx, Bazel (`--remote_header`) and ccache (`|bearer-token=`); HTTP Basic with
 * the token as the password for ccache (user:password in its URL) and Gradle, whose client speaks
 * nothing else. The project is always the token's: these protocols have no project in their
 * paths, so nothing in a request can name another one.
 */
import type { Context } from 'koa';
import { requireJob } from '../auth/bearer';
import { authorize, type JobIdentity, type TokenVerifier } from '../auth/job-token';
import { UnauthorizedError } from '../errors';

export type CacheAccess = 'cache:read' | 'cache:write';

/**
 * `basic`: only HTTP Basic is read, and a request without it is challenged with Basic. Gradle
 * 4.4 sends its build-cache credentials with the first request (the protocol suite sees no 401),
 * but a client that waits for a challenge before it sends credentials (Apache HttpClient's
 * default, which Gradle's HTTP transport is built on) retries only after a 401 whose
 * WWW-Authenticate names Basic: a Bearer challenge would leave it unauthenticated.
 */
export type AuthSchemes = 'bearer-or-basic' | 'basic';

export async function protocolJob(ctx: Context, tokens: TokenVerifier, access: CacheAccess, schemes: AuthSchemes = 'bearer-or-basic'): Promise<JobIdentity> {
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
  } else if (schemes === 'basic') {
    const message = ctx.get('authorization') ? 'the Authorization header must be HTTP Basic "<any user>:<job token>"' : 'a job token is required';
    throw basicRefused(ctx, `${message} (HTTP Basic, the job token as the password)`);
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
