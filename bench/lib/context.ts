/**
 * What every figure gets: the temp dir, the S3 server, the running gateway (restartable), job
 * tokens minted with the gateway's own key, and the result row format.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { mintJobToken } from '../../src/auth/job-token';
import { deriveKey } from '../../src/auth/keys';
import { originLabel } from '../../src/artifacts/labels';
import type { Scope } from '../../src/ids';
import { call, expectStatus, upload, type Reply } from './http';
import type { Gateway, GatewayOptions, S3Server } from './services';

export interface Row {
  figure: string;
  what: string;
  value: number;
  unit: 'req/s' | 'ms' | 'MB/s' | 'MiB' | 'KiB' | 's' | 'µs';
  baseline?: { what: string; value: number };
  /** value / baseline, where a ratio is the target. */
  ratio?: number;
  target: string;
  /** undefined: a reference row without a target of its own. */
  met?: boolean;
  detail?: Record<string, unknown>;
}

export interface BenchContext {
  dir: string;
  s3: S3Server;
  s3client: S3Client;
  secret: string;
  gateway: Gateway;
  /** Seconds each load run lasts (wrk -d). */
  seconds: number;
  restartGateway(options?: Partial<Pick<GatewayOptions, 'logLevel' | 'cpuProfile'>>): Promise<Gateway>;
  log(message: string): void;
}

export const SITE = 'bench/site';

export async function jobToken(ctx: BenchContext, project: string, build: string, scopes: Scope[]): Promise<string> {
  return mintJobToken(
    deriveKey(Buffer.from(ctx.secret), 'job-token'),
    { project, build, branch: 'main', default_branch: 'main', trusted: true, scope: scopes.join(' ') },
    { issuer: 'artifact-gateway', audience: 'artifact-gateway', expiresInSeconds: 3600 },
  );
}

/** Host header of a project's artifact origin on the running gateway. */
export function originHost(ctx: BenchContext, project: string): string {
  return `${originLabel(project)}.localhost:${ctx.gateway.port}`;
}

export function artifactApiPath(project: string, build: string, path = ''): string {
  const rest = path ? `/${path.split('/').map(encodeURIComponent).join('/')}` : '';
  return `/api/v1/projects/${encodeURIComponent(project)}/builds/${encodeURIComponent(build)}/artifacts${rest}`;
}

/** Uploads an artifact through the gateway's API (what a CI job does). */
export async function putArtifact(
  ctx: BenchContext,
  o: { project: string; build: string; path: string; size: number; contentType: string; chunk: Buffer },
): Promise<Reply & { seconds: number }> {
  const token = await jobToken(ctx, o.project, o.build, ['artifacts:write']);
  const reply = await upload(
    {
      port: ctx.gateway.port,
      host: ctx.gateway.apiHost,
      path: artifactApiPath(o.project, o.build, o.path),
      headers: { authorization: `Bearer ${token}`, 'content-type': o.contentType },
    },
    o.size,
    o.chunk,
  );
  expectStatus(`upload of ${o.path}`, reply, 200, 201);
  return reply;
}

/** The presigned URL the API's download endpoint redirects to (a direct GET of the same object). */
export async function presignedUrlOf(ctx: BenchContext, project: string, build: string, path: string): Promise<URL> {
  const token = await jobToken(ctx, project, build, ['artifacts:read']);
  const reply = await call({
    port: ctx.gateway.port,
    host: ctx.gateway.apiHost,
    path: artifactApiPath(project, build, path),
    headers: { authorization: `Bearer ${token}` },
  });
  expectStatus(`download redirect for ${path}`, reply, 302);
  return new URL(reply.headers.location!);
}

export const MiB = 1024 * 1024;
export const mb = (bytesPerSecond: number) => bytesPerSecond / 1e6;
