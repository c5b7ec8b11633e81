/**
 * Configuration: loadConfig(env) is pure (no process.env, no I/O), called once by the CLI and
 * passed down. It reports EVERY problem at once, each naming its variable, and never falls back
 * silently from an invalid value. Each variable is read as the table in variables.ts says; what
 * is checked here is only what relates one variable to another.
 */
import { join, resolve } from 'node:path';
import { ConfigError } from './error';
import { Invalid } from './parsers';
import type { Config, StorageConfig } from './types';
import { VARIABLES, type Values, type Variable, type VariableName } from './variables';

export { ConfigError };

type Env = Record<string, string | undefined>;

export interface LoadConfigOptions {
  /** Base for a relative DATA_DIR. */
  cwd?: string;
}

interface Read {
  values: Values;
  /** Variables that were set to something invalid (their value is the default). */
  invalid: Set<VariableName>;
  problems: string[];
}

/** Reads every variable on its own: set ones parsed, unset ones from their default. */
function readVariables(env: Env): Read {
  const values: Record<string, unknown> = {};
  const invalid = new Set<VariableName>();
  const problems: string[] = [];
  const read = (name: VariableName, spec: Variable<unknown>) => {
    const raw = env[name]?.trim() || undefined;
    values[name] = spec.default === undefined ? undefined : spec.parse(spec.default);
    if (spec.driver !== undefined && spec.driver !== values.STORAGE_DRIVER) return;
    if (raw === undefined) {
      if (spec.required) problems.push(`${name}: required${spec.driver ? ` when STORAGE_DRIVER=${spec.driver}` : ''}`);
      return;
    }
    try {
      values[name] = spec.parse(raw);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      invalid.add(name);
      // a secret's value must not end up in a log or on a terminal, even a wrong one
      problems.push(...err.problems.map((p) => `${name}: ${spec.secret ? p.split(JSON.stringify(raw)).join('[redacted]') : p}`));
    }
  };
  // the driver first: it decides which of the others are read
  read('STORAGE_DRIVER', VARIABLES.STORAGE_DRIVER);
  for (const [name, spec] of Object.entries(VARIABLES) as Array<[VariableName, Variable<unknown>]>) {
    if (name !== 'STORAGE_DRIVER') read(name, spec);
  }
  return { values: values as Values, invalid, problems };
}

export function loadConfig(env: Env, options: LoadConfigOptions = {}): Config {
  const { values: v, invalid, problems } = readVariables(env);
  const warnings: string[] = [];

  const publicUrl = v.PUBLIC_URL ?? new URL(`http://localhost:${v.PORT}`);
  if (!invalid.has('ARTIFACT_DOMAIN') && !invalid.has('PUBLIC_URL')) {
    const problem = domainOverlap(v.ARTIFACT_DOMAIN, publicUrl.hostname.toLowerCase(), warnings);
    if (problem) problems.push(problem);
  }

  let storage: StorageConfig = { driver: 'fs', dataDir: resolve(options.cwd ?? '.', v.DATA_DIR) };
  if (v.STORAGE_DRIVER === 's3') {
    if (v.ARTIFACTS_BUCKET && v.ARTIFACTS_BUCKET === v.CACHE_BUCKET) {
      problems.push('CACHE_BUCKET: must differ from ARTIFACTS_BUCKET (the cache bucket is private)');
    }
    if ((v.S3_ACCESS_KEY_ID === undefined) !== (v.S3_SECRET_ACCESS_KEY === undefined)) {
      problems.push('S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY: set both or neither');
    }
    if (v.SIGNING_SECRET === undefined && !invalid.has('SIGNING_SECRET')) {
      problems.push('SIGNING_SECRET: required when STORAGE_DRIVER=s3 (every instance must share it; use `openssl rand -hex 32`)');
    }
    storage = {
      driver: 's3',
      endpoint: v.S3_ENDPOINT,
      publicEndpoint: v.S3_PUBLIC_ENDPOINT,
      region: v.S3_REGION,
      // a custom endpoint (MinIO, Ceph) rarely has wildcard DNS for virtual-hosted buckets
      forcePathStyle: v.S3_FORCE_PATH_STYLE ?? v.S3_ENDPOINT !== undefined,
      accessKeyId: v.S3_ACCESS_KEY_ID,
      secretAccessKey: v.S3_SECRET_ACCESS_KEY,
      sessionToken: v.S3_SESSION_TOKEN,
      artifactsBucket: v.ARTIFACTS_BUCKET ?? '',
      cacheBucket: v.CACHE_BUCKET ?? '',
      createBuckets: v.S3_CREATE_BUCKETS,
      responseTimeoutMs: v.S3_RESPONSE_TIMEOUT * 1000,
    };
  }
  if (v.JWT_PUBLIC_KEY !== undefined && v.JWT_JWKS_URL !== undefined) problems.push('JWT_PUBLIC_KEY / JWT_JWKS_URL: set one, not both');

  const viewerLogin = readViewerLogin(v, invalid, problems, warnings, options.cwd ?? '.');
  // the sign-in's cookies are Secure: on plain http a browser drops them and every page would
  // send it round the provider again and again
  if (viewerLogin && publicUrl.protocol !== 'https:' && !/^(localhost|127\.0\.0\.1|\[::1\])$/.test(publicUrl.hostname)) {
    problems.push('VIEWER_OIDC_ISSUER: people sign in only with an https PUBLIC_URL (its cookies are Secure); http only on a loopback host');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: v.HOST,
    port: v.PORT,
    publicUrl,
    artifactDomain: v.ARTIFACT_DOMAIN,
    storage,
    presignTtlSeconds: v.PRESIGN_TTL,
    signingSecret: v.SIGNING_SECRET,
    signingSecretFile: v.SIGNING_SECRET === undefined && storage.driver === 'fs' ? join(storage.dataDir, '.signing-secret') : undefined,
    isolation: v.ISOLATION,
    publicProjects: new Set(v.PUBLIC_PROJECTS),
    artifactMaxBytes: v.ARTIFACT_MAX_BYTES,
    bundleMaxBytes: v.BUNDLE_MAX_BYTES,
    bundleMaxFiles: v.BUNDLE_MAX_FILES,
    inlineMaxBytes: v.INLINE_MAX_BYTES,
    frameAncestors: v.FRAME_ANCESTORS,
    contentPolicy: v.CONTENT_POLICY,
    strictContentProjects: v.STRICT_CONTENT_PROJECTS ?? [],
    jobTokens: {
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      publicKeyPem: v.JWT_PUBLIC_KEY,
      publicKeyAlgorithm: v.JWT_ALGORITHM,
      jwksUrl: v.JWT_JWKS_URL,
    },
    oidc: {
      policyFile: v.OIDC_POLICY_FILE === undefined ? undefined : resolve(options.cwd ?? '.', v.OIDC_POLICY_FILE),
      fetchTimeoutMs: v.OIDC_FETCH_TIMEOUT * 1000,
      keyCooldownMs: v.OIDC_KEY_COOLDOWN * 1000,
    },
    viewerLogin,
    caches: {
      ttlDays: v.CACHE_TTL_DAYS,
      quotaBytes: v.CACHE_QUOTA_BYTES,
      maxBytes: v.CACHE_MAX_BYTES,
      uploadTtlSeconds: v.CACHE_UPLOAD_TTL,
      partBytes: v.CACHE_PART_BYTES,
    },
    artifactRetentionDays: v.ARTIFACT_RETENTION_DAYS,
    gcIntervalMinutes: v.GC_INTERVAL_MINUTES,
    ticketTtlSeconds: v.TICKET_TTL,
    sessionTtlSeconds: v.SESSION_TTL,
    logLevel: v.LOG_LEVEL,
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT * 1000,
    headersTimeoutMs: v.HEADERS_TIMEOUT * 1000,
    trustProxy: v.TRUST_PROXY,
    warnings,
  };
}

/** People login: all of issuer, client id, one secret and the policy, or none of them. */
function readViewerLogin(v: Values, invalid: Set<VariableName>, problems: string[], warnings: string[], cwd: string): Config['viewerLogin'] {
  const names = ['VIEWER_OIDC_CLIENT_ID', 'VIEWER_OIDC_CLIENT_SECRET', 'VIEWER_OIDC_CLIENT_SECRET_FILE', 'VIEWER_POLICY_FILE'] as const;
  if (v.VIEWER_OIDC_ISSUER === undefined) {
    if (!invalid.has('VIEWER_OIDC_ISSUER')) {
      for (const name of names) if (v[name] !== undefined) warnings.push(`${name} is ignored: VIEWER_OIDC_ISSUER is not set`);
    }
    return undefined;
  }
  if (v.VIEWER_OIDC_CLIENT_ID === undefined) problems.push('VIEWER_OIDC_CLIENT_ID: required with VIEWER_OIDC_ISSUER');
  if ((v.VIEWER_OIDC_CLIENT_SECRET === undefined) === (v.VIEWER_OIDC_CLIENT_SECRET_FILE === undefined)) {
    problems.push('VIEWER_OIDC_CLIENT_SECRET / VIEWER_OIDC_CLIENT_SECRET_FILE: set one of them with VIEWER_OIDC_ISSUER');
  }
  if (v.VIEWER_POLICY_FILE === undefined) problems.push('VIEWER_POLICY_FILE: required with VIEWER_OIDC_ISSUER (who may view which project)');
  return {
    issuer: v.VIEWER_OIDC_ISSUER,
    clientId: v.VIEWER_OIDC_CLIENT_ID ?? '',
    clientSecret: v.VIEWER_OIDC_CLIENT_SECRET,
    clientSecretFile: v.VIEWER_OIDC_CLIENT_SECRET_FILE === undefined ? undefined : resolve(cwd, v.VIEWER_OIDC_CLIENT_SECRET_FILE),
    scopes: v.VIEWER_OIDC_SCOPES,
    redirectPath: v.VIEWER_OIDC_REDIRECT_PATH,
    policyFile: resolve(cwd, v.VIEWER_POLICY_FILE ?? '.'),
    loginTtlSeconds: v.VIEWER_LOGIN_TTL,
  };
}

/**
 * Artifact pages must not share a registrable domain with the API host, or they could read its
 * cookies. Two loopback names are let through with a warning, for development.
 */
function domainOverlap(artifactDomain: string, apiHost: string, warnings: string[]): string | undefined {
  const overlaps = apiHost === artifactDomain || apiHost.endsWith(`.${artifactDomain}`) || artifactDomain.endsWith(`.${apiHost}`);
  if (!overlaps) return undefined;
  const loopback = (h: string) => h === 'localhost' || h.endsWith('.localhost');
  if (loopback(apiHost) && loopback(artifactDomain)) {
    warnings.push(
      `ARTIFACT_DOMAIN (${artifactDomain}) and PUBLIC_URL (${apiHost}) share 'localhost': fine for development, ` +
        'but in production artifact origins must be on a registrable domain of their own (on the Public Suffix List)',
    );
    return undefined;
  }
  return (
    `ARTIFACT_DOMAIN: ${artifactDomain} must be a different registrable domain from PUBLIC_URL's host ${apiHost} ` +
    "(neither may equal or contain the other), or artifact pages could read the API host's cookies"
  );
}
