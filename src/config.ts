/**
 * Configuration: loadConfig(env) is pure (no process.env, no I/O), called once by the CLI and
 * passed down. It reports EVERY problem at once, each naming its variable, and never falls back
 * silently from an invalid value.
 */
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { isId } from './ids';

export type StorageConfig =
  | { driver: 'fs'; dataDir: string }
  | {
      driver: 's3';
      endpoint?: string;
      /** Endpoint presigned URLs point at, when clients reach S3 by another URL than the gateway. */
      publicEndpoint?: string;
      region: string;
      forcePathStyle: boolean;
      accessKeyId?: string;
      secretAccessKey?: string;
      sessionToken?: string;
      artifactsBucket: string;
      cacheBucket: string;
      createBuckets: boolean;
      /** How long a read waits for S3 to start answering before it is a 503. */
      responseTimeoutMs: number;
    };

export interface Config {
  /** Address the HTTP server binds. */
  host: string;
  port: number;
  /** Origin of the API host, e.g. https://artifacts.example.com (no path). */
  publicUrl: URL;
  /** Artifact origins are <label>.<artifactDomain>, with PUBLIC_URL's scheme and port. */
  artifactDomain: string;
  storage: StorageConfig;
  /** Lifetime of presigned and blob URLs, seconds. */
  presignTtlSeconds: number;
  /**
   * Root secret; every signing key (blob URLs, job tokens, tickets, sessions) is derived from it.
   * Absent with the fs driver: then it lives in `signingSecretFile`, made on first start.
   */
  signingSecret?: Buffer;
  signingSecretFile?: string;
  /** project: one origin per project; build: one per build (keeps a PR's report off main's origin). */
  isolation: 'project' | 'build';
  /** Projects anyone may browse; all others are private. */
  publicProjects: ReadonlySet<string>;
  /** Largest artifact upload accepted, bytes. */
  artifactMaxBytes: number;
  /** Largest file a report's own script may fetch inline from its origin, bytes. */
  inlineMaxBytes: number;
  /** CSP frame-ancestors for artifact pages. */
  frameAncestors: string[];
  jobTokens: {
    issuer: string;
    audience: string;
    /** An external issuer's key instead of the HS256 key derived from the secret. */
    publicKeyPem?: string;
    publicKeyAlgorithm: 'RS256' | 'ES256' | 'EdDSA';
    jwksUrl?: URL;
  };
  caches: {
    /** Entries unused this long are deleted by gc. */
    ttlDays: number;
    /** Per-project total; gc evicts least recently used entries above it. */
    quotaBytes: number;
    /** Largest single cache archive accepted. */
    maxBytes: number;
    /** Lifetime of presigned part URLs of a direct upload, seconds. */
    uploadTtlSeconds: number;
    /** Part size of direct uploads. */
    partBytes: number;
  };
  /** Artifacts older than this are deleted by gc. */
  artifactRetentionDays: number;
  /** Run gc in-process every this many minutes; 0 = never (run `artifact-gateway gc` instead). */
  gcIntervalMinutes: number;
  /** Lifetime of a viewer ticket link, and of the session cookie it is exchanged for, seconds. */
  ticketTtlSeconds: number;
  sessionTtlSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How long a SIGTERM waits for in-flight requests before cutting connections, ms. */
  shutdownTimeoutMs: number;
  /** A client must send its request headers within this time (slowloris). */
  headersTimeoutMs: number;
  /** Believe X-Forwarded-For/-Proto and X-Request-Id from the proxy in front. */
  trustProxy: boolean;
  /** Things worth saying at start (e.g. a generated secret); not errors. */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** One line per variable for the README and `serve --help`. */
export const CONFIG_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'HOST', default: '127.0.0.1', meaning: 'address to bind (0.0.0.0 in a container)' },
  { name: 'PORT', default: '8080', meaning: 'port to bind' },
  { name: 'PUBLIC_URL', default: 'http://localhost:$PORT', meaning: 'origin of the API host as users reach it' },
  { name: 'ARTIFACT_DOMAIN', default: 'localhost', meaning: 'artifact origins are <label>.$ARTIFACT_DOMAIN; must be another registrable domain than PUBLIC_URL\'s host' },
  { name: 'STORAGE_DRIVER', default: 'fs', meaning: 'fs (embedded, one machine) or s3 (any S3-compatible server)' },
  { name: 'DATA_DIR', default: './data', meaning: 'fs driver: root directory of both buckets' },
  { name: 'S3_ENDPOINT', default: '(AWS)', meaning: 's3 driver: endpoint URL for MinIO, Ceph RGW, R2…' },
  { name: 'S3_PUBLIC_ENDPOINT', default: '(S3_ENDPOINT)', meaning: 's3 driver: endpoint that presigned URLs point at, when browsers and CI jobs reach S3 by another URL than the gateway does (e.g. https through nginx)' },
  { name: 'S3_REGION', default: 'us-east-1', meaning: 's3 driver: region' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'true if S3_ENDPOINT is set', meaning: 's3 driver: path-style bucket addressing' },
  { name: 'S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY / S3_SESSION_TOKEN', default: '(SDK default chain)', meaning: 's3 driver: credentials' },
  { name: 'ARTIFACTS_BUCKET', default: '(required for s3)', meaning: 's3 driver: bucket for artifacts' },
  { name: 'CACHE_BUCKET', default: '(required for s3)', meaning: 's3 driver: private bucket for caches; must differ from ARTIFACTS_BUCKET' },
  { name: 'S3_CREATE_BUCKETS', default: 'false', meaning: 's3 driver: create absent buckets at start (development only)' },
  { name: 'S3_RESPONSE_TIMEOUT', default: '5', meaning: 's3 driver: seconds a read waits for S3 to start answering; then 503 with Retry-After, not retried (a frozen S3 server accepts connections and says nothing)' },
  { name: 'PRESIGN_TTL', default: '60', meaning: 'seconds a presigned or blob URL stays valid (1-3600)' },
  { name: 'SIGNING_SECRET', default: 'fs: made once in $DATA_DIR/.signing-secret; s3: required', meaning: 'root secret (>= 32 characters) for blob URLs, job tokens, tickets and sessions; the same on every instance' },
  { name: 'ISOLATION', default: 'project', meaning: 'project: an origin per project; build: an origin per build' },
  { name: 'PUBLIC_PROJECTS', default: '(none)', meaning: 'comma-separated project ids anyone may browse; all others are private' },
  { name: 'ARTIFACT_MAX_BYTES', default: '5368709120', meaning: 'largest artifact upload accepted (5 GiB)' },
  { name: 'INLINE_MAX_BYTES', default: '67108864', meaning: 'largest file a report\'s own script may fetch inline from its origin (64 MiB); larger ones are redirected' },
  { name: 'FRAME_ANCESTORS', default: "'self'", meaning: 'space-separated CSP frame-ancestors for artifact pages, e.g. \'self\' https://ci.example.com' },
  { name: 'JWT_ISSUER / JWT_AUDIENCE', default: 'artifact-gateway', meaning: 'iss and aud that job tokens must carry' },
  { name: 'JWT_PUBLIC_KEY', default: '(HS256 from SIGNING_SECRET)', meaning: 'PEM (SPKI) public key of an external token issuer; with JWT_ALGORITHM (RS256, ES256 or EdDSA)' },
  { name: 'JWT_ALGORITHM', default: 'RS256', meaning: 'algorithm of JWT_PUBLIC_KEY: RS256, ES256 or EdDSA' },
  { name: 'JWT_JWKS_URL', default: '(none)', meaning: 'JWKS URL of an external token issuer (an OIDC provider)' },
  { name: 'TICKET_TTL', default: '300', meaning: 'seconds a viewer ticket link stays valid' },
  { name: 'SESSION_TTL', default: '28800', meaning: 'seconds a viewer session cookie stays valid (8 h)' },
  { name: 'CACHE_TTL_DAYS', default: '7', meaning: 'cache entries not restored for this many days are deleted by gc' },
  { name: 'CACHE_QUOTA_BYTES', default: '10737418240', meaning: 'per-project cache total (10 GiB); gc evicts least recently used entries above it' },
  { name: 'CACHE_MAX_BYTES', default: '10737418240', meaning: 'largest single cache archive accepted (10 GiB)' },
  { name: 'CACHE_UPLOAD_TTL', default: '3600', meaning: 'seconds the presigned part URLs of a direct cache upload stay valid' },
  { name: 'CACHE_PART_BYTES', default: '67108864', meaning: 'part size of direct cache uploads (64 MiB; 5 MiB to 5 GiB)' },
  { name: 'ARTIFACT_RETENTION_DAYS', default: '30', meaning: 'artifacts older than this are deleted by gc' },
  { name: 'GC_INTERVAL_MINUTES', default: '0', meaning: 'run gc in the server every N minutes (enable on one instance); 0: only `artifact-gateway gc`' },
  { name: 'LOG_LEVEL', default: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent' },
  { name: 'SHUTDOWN_TIMEOUT', default: '10', meaning: 'seconds SIGTERM waits for in-flight requests' },
  { name: 'HEADERS_TIMEOUT', default: '20', meaning: 'seconds a client has to send its request headers; a slower one is cut (within a second of the limit)' },
  { name: 'TRUST_PROXY', default: 'false', meaning: 'trust X-Forwarded-* and X-Request-Id from the proxy in front' },
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
// S3 bucket naming rules (the portable subset)
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface LoadConfigOptions {
  /** Base for a relative DATA_DIR. */
  cwd?: string;
}

export function loadConfig(env: Env, options: LoadConfigOptions = {}): Config {
  const problems: string[] = [];
  const warnings: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
      return def;
    }
    return Number(raw);
  };
  const bool = (name: string, def: boolean): boolean => {
    const raw = get(name);
    if (raw === undefined) return def;
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    problems.push(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
    return def;
  };
  const httpUrl = (name: string, raw: string): URL | undefined => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      problems.push(`${name}: expected an http(s) URL, got ${JSON.stringify(raw)}`);
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.push(`${name}: expected an http or https URL, got ${JSON.stringify(raw)}`);
      return undefined;
    }
    if (url.username || url.password) {
      problems.push(`${name}: must not contain credentials`);
      return undefined;
    }
    return url;
  };

  const host = get('HOST') ?? '127.0.0.1';
  const port = int('PORT', 8080, 0, 65535);

  const publicUrlRaw = get('PUBLIC_URL') ?? `http://localhost:${port}`;
  const publicUrl = httpUrl('PUBLIC_URL', publicUrlRaw);
  if (publicUrl && (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash)) {
    problems.push(`PUBLIC_URL: must be an origin without path, query or fragment, got ${JSON.stringify(publicUrlRaw)}`);
  }

  const artifactDomain = (get('ARTIFACT_DOMAIN') ?? 'localhost').toLowerCase();
  if (!HOSTNAME.test(artifactDomain) || isIP(artifactDomain)) {
    problems.push(`ARTIFACT_DOMAIN: expected a DNS name such as example-artifacts.net, got ${JSON.stringify(artifactDomain)}`);
  } else if (publicUrl) {
    const apiHost = publicUrl.hostname.toLowerCase();
    const overlaps =
      apiHost === artifactDomain || apiHost.endsWith(`.${artifactDomain}`) || artifactDomain.endsWith(`.${apiHost}`);
    const loopback = (h: string) => h === 'localhost' || h.endsWith('.localhost');
    if (overlaps && loopback(apiHost) && loopback(artifactDomain)) {
      warnings.push(
        `ARTIFACT_DOMAIN (${artifactDomain}) and PUBLIC_URL (${apiHost}) share 'localhost': fine for development, ` +
          'but in production artifact origins must be on a registrable domain of their own (on the Public Suffix List)',
      );
    } else if (overlaps) {
      problems.push(
        `ARTIFACT_DOMAIN: ${artifactDomain} must be a different registrable domain from PUBLIC_URL's host ${apiHost} ` +
          '(neither may equal or contain the other), or artifact pages could read the API host\'s cookies',
      );
    }
  }

  const driver = get('STORAGE_DRIVER') ?? 'fs';
  let storage: StorageConfig = { driver: 'fs', dataDir: resolve(options.cwd ?? '.', get('DATA_DIR') ?? 'data') };
  if (driver === 's3') {
    const endpointRaw = get('S3_ENDPOINT');
    const endpoint = endpointRaw === undefined ? undefined : httpUrl('S3_ENDPOINT', endpointRaw);
    const publicEndpointRaw = get('S3_PUBLIC_ENDPOINT');
    const publicEndpoint = publicEndpointRaw === undefined ? undefined : httpUrl('S3_PUBLIC_ENDPOINT', publicEndpointRaw);
    const artifactsBucket = get('ARTIFACTS_BUCKET');
    const cacheBucket = get('CACHE_BUCKET');
    for (const [name, value] of [['ARTIFACTS_BUCKET', artifactsBucket], ['CACHE_BUCKET', cacheBucket]] as const) {
      if (value === undefined) problems.push(`${name}: required when STORAGE_DRIVER=s3`);
      else if (!BUCKET.test(value)) problems.push(`${name}: ${JSON.stringify(value)} is not a valid S3 bucket name`);
    }
    if (artifactsBucket && artifactsBucket === cacheBucket) {
      problems.push('CACHE_BUCKET: must differ from ARTIFACTS_BUCKET (the cache bucket is private)');
    }
    const accessKeyId = get('S3_ACCESS_KEY_ID');
    const secretAccessKey = get('S3_SECRET_ACCESS_KEY');
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      problems.push('S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY: set both or neither');
    }
    storage = {
      driver: 's3',
      endpoint: endpoint?.toString().replace(/\/$/, ''),
      publicEndpoint: publicEndpoint?.toString().replace(/\/$/, ''),
      region: get('S3_REGION') ?? 'us-east-1',
      forcePathStyle: bool('S3_FORCE_PATH_STYLE', endpointRaw !== undefined),
      accessKeyId,
      secretAccessKey,
      sessionToken: get('S3_SESSION_TOKEN'),
      artifactsBucket: artifactsBucket ?? '',
      cacheBucket: cacheBucket ?? '',
      createBuckets: bool('S3_CREATE_BUCKETS', false),
      responseTimeoutMs: int('S3_RESPONSE_TIMEOUT', 5, 1, 300) * 1000,
    };
  } else if (driver !== 'fs') {
    problems.push(`STORAGE_DRIVER: expected fs or s3, got ${JSON.stringify(driver)}`);
  }

  const presignTtlSeconds = int('PRESIGN_TTL', 60, 1, 3600);

  const secretRaw = get('SIGNING_SECRET');
  if (secretRaw !== undefined && secretRaw.length < 32) {
    problems.push('SIGNING_SECRET: must be at least 32 characters (use `openssl rand -hex 32`)');
  }
  if (secretRaw === undefined && storage.driver === 's3') {
    problems.push('SIGNING_SECRET: required when STORAGE_DRIVER=s3 (every instance must share it; use `openssl rand -hex 32`)');
  }
  const signingSecret = secretRaw === undefined ? undefined : Buffer.from(secretRaw, 'utf8');
  const signingSecretFile = secretRaw === undefined && storage.driver === 'fs' ? join(storage.dataDir, '.signing-secret') : undefined;

  const isolationRaw = get('ISOLATION') ?? 'project';
  if (isolationRaw !== 'project' && isolationRaw !== 'build') {
    problems.push(`ISOLATION: expected project or build, got ${JSON.stringify(isolationRaw)}`);
  }
  const publicProjects = new Set<string>();
  for (const id of (get('PUBLIC_PROJECTS') ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!isId('project', id)) problems.push(`PUBLIC_PROJECTS: ${JSON.stringify(id)} is not a valid project id`);
    publicProjects.add(id);
  }
  const artifactMaxBytes = int('ARTIFACT_MAX_BYTES', 5 * 1024 ** 3, 1, 5 * 1024 ** 4);
  const inlineMaxBytes = int('INLINE_MAX_BYTES', 64 * 1024 ** 2, 0, 1024 ** 4);
  const frameAncestors = (get('FRAME_ANCESTORS') ?? "'self'").split(/\s+/);
  for (const source of frameAncestors) {
    if (!/^('self'|'none'|https?:\/\/[a-z0-9.*:-]+)$/i.test(source)) {
      problems.push(`FRAME_ANCESTORS: ${JSON.stringify(source)} is not 'self', 'none' or an http(s) origin`);
    }
  }
  const jwksRaw = get('JWT_JWKS_URL');
  const jwksUrl = jwksRaw === undefined ? undefined : httpUrl('JWT_JWKS_URL', jwksRaw);
  const publicKeyPem = get('JWT_PUBLIC_KEY')?.replace(/\\n/g, '\n');
  if (publicKeyPem !== undefined && !publicKeyPem.startsWith('-----BEGIN PUBLIC KEY-----')) {
    problems.push('JWT_PUBLIC_KEY: expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }
  if (publicKeyPem !== undefined && jwksUrl !== undefined) problems.push('JWT_PUBLIC_KEY / JWT_JWKS_URL: set one, not both');
  const algorithm = get('JWT_ALGORITHM') ?? 'RS256';
  if (!['RS256', 'ES256', 'EdDSA'].includes(algorithm)) {
    problems.push(`JWT_ALGORITHM: expected RS256, ES256 or EdDSA, got ${JSON.stringify(algorithm)}`);
  }
  const caches = {
    ttlDays: int('CACHE_TTL_DAYS', 7, 1, 3650),
    quotaBytes: int('CACHE_QUOTA_BYTES', 10 * 1024 ** 3, 1, 1024 ** 5),
    maxBytes: int('CACHE_MAX_BYTES', 10 * 1024 ** 3, 1, 5 * 1024 ** 4),
    uploadTtlSeconds: int('CACHE_UPLOAD_TTL', 3600, 60, 7 * 86400),
    partBytes: int('CACHE_PART_BYTES', 64 * 1024 ** 2, 5 * 1024 ** 2, 5 * 1024 ** 3),
  };
  const artifactRetentionDays = int('ARTIFACT_RETENTION_DAYS', 30, 1, 36500);
  const gcIntervalMinutes = int('GC_INTERVAL_MINUTES', 0, 0, 7 * 24 * 60);
  const ticketTtlSeconds = int('TICKET_TTL', 300, 10, 86400);
  const sessionTtlSeconds = int('SESSION_TTL', 8 * 3600, 60, 30 * 86400);

  const logLevelRaw = get('LOG_LEVEL') ?? 'info';
  const logLevel = (LOG_LEVELS as readonly string[]).includes(logLevelRaw) ? (logLevelRaw as Config['logLevel']) : 'info';
  if (logLevel !== logLevelRaw) problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevelRaw)}`);

  const shutdownTimeoutMs = int('SHUTDOWN_TIMEOUT', 10, 0, 3600) * 1000;
  const headersTimeoutMs = int('HEADERS_TIMEOUT', 20, 1, 600) * 1000;
  const trustProxy = bool('TRUST_PROXY', false);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host,
    port,
    publicUrl: publicUrl!,
    artifactDomain,
    storage,
    presignTtlSeconds,
    signingSecret,
    signingSecretFile,
    isolation: isolationRaw as Config['isolation'],
    publicProjects,
    artifactMaxBytes,
    inlineMaxBytes,
    frameAncestors,
    jobTokens: {
      issuer: get('JWT_ISSUER') ?? 'artifact-gateway',
      audience: get('JWT_AUDIENCE') ?? 'artifact-gateway',
      publicKeyPem,
      publicKeyAlgorithm: algorithm as Config['jobTokens']['publicKeyAlgorithm'],
      jwksUrl,
    },
    caches,
    artifactRetentionDays,
    gcIntervalMinutes,
    ticketTtlSeconds,
    sessionTtlSeconds,
    logLevel,
    shutdownTimeoutMs,
    headersTimeoutMs,
    trustProxy,
    warnings,
  };
}

/** The effective config for the start-up log line: secrets replaced by a marker. */
export function describeConfig(config: Config): Record<string, unknown> {
  const storage =
    config.storage.driver === 's3'
      ? { ...config.storage, secretAccessKey: config.storage.secretAccessKey ? '[redacted]' : undefined, sessionToken: config.storage.sessionToken ? '[redacted]' : undefined }
      : config.storage;
  return {
    host: config.host,
    port: config.port,
    publicUrl: config.publicUrl.origin,
    artifactDomain: config.artifactDomain,
    storage,
    presignTtlSeconds: config.presignTtlSeconds,
    signingSecret: config.signingSecret ? '[redacted]' : `[in ${config.signingSecretFile}]`,
    isolation: config.isolation,
    publicProjects: [...config.publicProjects],
    artifactMaxBytes: config.artifactMaxBytes,
    inlineMaxBytes: config.inlineMaxBytes,
    frameAncestors: config.frameAncestors,
    jobTokens: { ...config.jobTokens, jwksUrl: config.jobTokens.jwksUrl?.toString() },
    caches: config.caches,
    artifactRetentionDays: config.artifactRetentionDays,
    gcIntervalMinutes: config.gcIntervalMinutes,
    ticketTtlSeconds: config.ticketTtlSeconds,
    sessionTtlSeconds: config.sessionTtlSeconds,
    logLevel: config.logLevel,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    trustProxy: config.trustProxy,
  };
}
