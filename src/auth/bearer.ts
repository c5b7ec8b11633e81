import type { Context } from 'koa';
import { UnauthorizedError } from '../errors';
import type { JobIdentity, TokenVerifier } from './job-token';

/** The job identity of `Authorization: Bearer <jwt>`, or 401 saying what is missing. */
export async function requireJob(ctx: Context, tokens: TokenVerifier): Promise<JobIdentity> {
  const header = ctx.get('authorization');
  const m = /^Bearer ([A-Za-z0-9_\-.=]+)$/i.exec(header);
  if (!m) {
    ctx.set('WWW-Authenticate', 'Bearer realm="artifact-gateway"');
    throw new UnauthorizedError(header ? 'the Authorization header must be "Bearer <job token>"' : 'a job token is required (Authorization: Bearer <token>)');
  }
  try {
    return await tokens.verify(m[1]);
  } catch (err) {
    ctx.set('WWW-Authenticate', 'Bearer realm="artifact-gateway", error="invalid_token"');
    throw err;
  }
}
