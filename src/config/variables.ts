/**
 * Every environment variable the gateway reads, once: its default, how its text is parsed, and
 * what it means. loadConfig, `serve --help` and docs/configuration.md are all made from this table,
 * so a default is written in one place only.
 */
import { isId, projectPattern } from '../ids';
import { boolean, bucket, byteSize, dnsName, endpoint, httpUrl, Invalid, listOf, oneOf, origin, parser, text, wholeNumber, type Parser } from './parsers';

export interface Variable<V> {
  /** What it means, one line. */
  doc: string;
  parse: Parser<V>;
  /** The value when unset, written as it would be in the environment and parsed like one. */
  default?: string;
  /** When the default follows from other variables (loadConfig computes it): what it is, in words. */
  defaultDoc?: string;
  /** Read only with this storage driver, ignored with the other. */
  driver?: 'fs' | 's3';
  /** Must be set (with its driver). */
  required?: boolean;
  /** Never echoed in a configuration error (and redacted in the start-up log). */
  secret?: boolean;
}

const given = <T>(v: Variable<T> & { default: string }): Variable<T> => v;
const optional = <T>(v: Variable<T>): Variable<T | undefined> => v;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const KEY_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

const signingSecret = parser('32 or more characters', (raw) => {
  if (raw.length < 32) throw new Invalid('must be at least 32 characters (use `openssl rand -hex 32`)');
  return Buffer.from(raw, 'utf8');
});

// a PEM in one line of an env file has its line breaks written as \n
const publicKeyPem = parser('PEM public key', (raw) => {
  const pem = raw.replace(/\\n/g, '\n');
  if (!pem.startsWith('-----BEGIN PUBLIC KEY-----')) throw new Invalid('expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  return pem;
});

const projectIds = listOf('comma-separated project ids', /,/, (id) => {
  if (!isId('project', id)) throw new Invalid(`${JSON.stringify(id)} is not a valid project id`);
  return id;
});

const projectPatterns = listOf('comma-separated project ids or patterns (acme/*: * matches one path segment)', /,/, (p) => {
  const pattern = projectPattern(p);
  if (!pattern) throw new Invalid(`${JSON.stringify(p)} is not a project id or a pattern of one (* matches one path segment, e.g. acme/*)`);
  return p;
});

const frameSources = listOf("space-separated 'self', 'none' or http(s) origins", /\s+/, (source) => {
  if (!/^('self'|'none'|https?:\/\/[a-z0-9.*:-]+)$/i.test(source)) {
    throw new Invalid(`${JSON.stringify(source)} is not 'self', 'none' or an http(s) origin`);
  }
  return source;
});

/** An issuer URL kept as written (its exact text is what ID tokens carry in iss): https, or http on loopback. */
const issuerUrl = parser('https URL (http only on a loopback host)', (raw) => {
  const url = httpUrl(raw);
  if (url.protocol !== 'https:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
    throw new Invalid(`must be an https URL (http only on a loopback host), got ${JSON.stringify(raw)}`);
  }
  if (url.search || url.hash) throw new Invalid('must not have a query or fragment');
  return raw;
});

const scopeList = parser('space-separated scopes', (raw) => {
  const scopes = raw.split(/\s+/).filter(Boolean);
  for (const s of scopes) if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw new Invalid(`${JSON.stringify(s)} is not a scope`);
  return [...new Set(['openid', ...scopes])];
});

// a path of its own on the API host: not the API's, the health checks' or another sign-in route's
const redirectPath = parser('a path such as /login/callback', (raw) => {
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(raw)) throw new Invalid(`expected a path of letters, digits and . _ ~ - segments, got ${JSON.stringify(raw)}`);
  if (/^\/(api|_blob|v8|v1|cache|twirp|_apis|healthz|readyz|metrics|openapi\.yaml)(\/|$)|^\/(login|logout)$/.test(raw)) {
    throw new Invalid(`${raw} is a route of the gateway already`);
  }
  return raw;
});

export const VARIABLES = {
  HOST: given({ default: '127.0.0.1', parse: text, doc: 'address to bind (0.0.0.0 in a container)' }),
  PORT: given({ default: '8080', parse: wholeNumber(0, 65535), doc: 'port to bind' }),
  PUBLIC_URL: optional({ defaultDoc: 'http://localhost:$PORT', parse: origin, doc: 'origin of the API host as users reach it' }),
  ARTIFACT_DOMAIN: given({
    default: 'localhost',
    parse: dnsName,
    doc: "artifact origins are <label>.$ARTIFACT_DOMAIN; must be another registrable domain than PUBLIC_URL's host",
  }),
  STORAGE_DRIVER: given({ default: 'fs', parse: oneOf(['fs', 's3']), doc: 'fs (embedded, one machine) or s3 (any S3-compatible server)' }),
  DATA_DIR: given({ driver: 'fs', default: './data', parse: text, doc: 'root directory of both buckets' }),
  S3_ENDPOINT: optional({ driver: 's3', defaultDoc: 'AWS', parse: endpoint, doc: 'endpoint URL for MinIO, Ceph RGW, R2…' }),
  S3_PUBLIC_ENDPOINT: optional({
    driver: 's3',
    defaultDoc: 'S3_ENDPOINT',
    parse: endpoint,
    doc: 'endpoint that presigned URLs point at, when browsers and CI jobs reach S3 by another URL than the gateway does (e.g. https through nginx)',
  }),
  S3_REGION: given({ driver: 's3', default: 'us-east-1', parse: text, doc: 'region' }),
  S3_FORCE_PATH_STYLE: optional({ driver: 's3', defaultDoc: 'true if S3_ENDPOINT is set', parse: boolean, doc: 'path-style bucket addressing' }),
  S3_ACCESS_KEY_ID: optional({
    driver: 's3',
    defaultDoc: 'SDK default chain',
    parse: text,
    doc: 'access key id; set both it and S3_SECRET_ACCESS_KEY, or neither',
  }),
  S3_SECRET_ACCESS_KEY: optional({ driver: 's3', defaultDoc: 'SDK default chain', parse: text, secret: true, doc: 'secret access key' }),
  S3_SESSION_TOKEN: optional({ driver: 's3', defaultDoc: 'SDK default chain', parse: text, secret: true, doc: 'session token of temporary credentials' }),
  ARTIFACTS_BUCKET: optional({ driver: 's3', required: true, parse: bucket, doc: 'bucket for artifacts' }),
  CACHE_BUCKET: optional({ driver: 's3', required: true, parse: bucket, doc: 'private bucket for caches; must differ from ARTIFACTS_BUCKET' }),
  S3_CREATE_BUCKETS: given({ driver: 's3', default: 'false', parse: boolean, doc: 'create absent buckets at start (development only)' }),
  S3_RESPONSE_TIMEOUT: given({
    driver: 's3',
    default: '5',
    parse: wholeNumber(1, 300),
    doc: 'seconds a read waits for S3 to start answering; then 503 with Retry-After, not retried (a frozen S3 server accepts connections and says nothing)',
  }),
  PRESIGN_TTL: given({ default: '60', parse: wholeNumber(1, 3600), doc: 'seconds a presigned or blob URL stays valid' }),
  SIGNING_SECRET: optional({
    defaultDoc: 'fs: made once in $DATA_DIR/.signing-secret; s3: required',
    parse: signingSecret,
    secret: true,
    doc: 'root secret for blob URLs, job tokens, tickets and sessions; the same on every instance',
  }),
  ISOLATION: given({ default: 'project', parse: oneOf(['project', 'build']), doc: 'project: an origin per project; build: an origin per build' }),
  PUBLIC_PROJECTS: optional({ parse: projectIds, doc: 'projects anyone may browse; all others are private' }),
  ARTIFACT_MAX_BYTES: given({ default: String(5 * GiB), parse: byteSize(1, 5 * TiB), doc: 'largest artifact upload accepted (5 GiB)' }),
  BUNDLE_MAX_BYTES: given({
    default: String(10 * GiB),
    parse: byteSize(1024, 5 * TiB),
    doc: 'largest bundle upload (one tar of many artifacts) accepted, as sent (10 GiB); each file in it is also held to ARTIFACT_MAX_BYTES',
  }),
  BUNDLE_MAX_FILES: given({ default: '100000', parse: wholeNumber(1, 10_000_000), doc: 'most files one bundle upload may hold' }),
  INLINE_MAX_BYTES: given({
    default: String(64 * MiB),
    parse: byteSize(0, TiB),
    doc: "largest file a report's own script may fetch inline from its origin (64 MiB); larger ones are redirected",
  }),
  CONTENT_POLICY: given({
    default: 'reports',
    parse: oneOf(['reports', 'strict']),
    doc: 'CSP of artifact pages: reports lets them load scripts, styles, fonts and images from any https origin; strict only from their own (docs/content-policy.md)',
  }),
  STRICT_CONTENT_PROJECTS: optional({ parse: projectPatterns, doc: 'projects whose artifact pages get the strict CSP whatever CONTENT_POLICY says' }),
  FRAME_ANCESTORS: given({ default: "'self'", parse: frameSources, doc: "CSP frame-ancestors for artifact pages, e.g. 'self' https://ci.example.com" }),
  JWT_ISSUER: given({ default: 'artifact-gateway', parse: text, doc: 'iss that job tokens must carry' }),
  JWT_AUDIENCE: given({ default: 'artifact-gateway', parse: text, doc: 'aud that job tokens must carry' }),
  JWT_PUBLIC_KEY: optional({
    defaultDoc: 'HS256 from SIGNING_SECRET',
    parse: publicKeyPem,
    doc: 'PEM (SPKI) public key of an external token issuer, with JWT_ALGORITHM; not with JWT_JWKS_URL',
  }),
  JWT_ALGORITHM: given({ default: 'RS256', parse: oneOf(KEY_ALGORITHMS), doc: 'algorithm of JWT_PUBLIC_KEY' }),
  JWT_JWKS_URL: optional({ parse: httpUrl, doc: 'JWKS URL of an external token issuer (an OIDC provider)' }),
  OIDC_POLICY_FILE: optional({
    parse: text,
    doc:
      'JSON file of the CI issuers (GitHub Actions, GitLab, CircleCI, Buildkite, others) whose own OIDC ID tokens jobs may use, ' +
      'and which repositories act as which project (docs/identity.md); job tokens of JWT_ISSUER keep working beside them',
  }),
  OIDC_FETCH_TIMEOUT: given({
    default: '5',
    parse: wholeNumber(1, 60),
    doc: "seconds an issuer's discovery document or JWKS has to answer completely; then the request is a 503 with Retry-After",
  }),
  OIDC_KEY_COOLDOWN: given({
    default: '30',
    parse: wholeNumber(1, 3600),
    doc: "a token with a key id the issuer's cached JWKS lacks refetches it at most once per this many seconds",
  }),
  VIEWER_OIDC_ISSUER: optional({
    parse: issuerUrl,
    doc: "issuer URL of the organisation's OpenID provider (Keycloak realm, Dex, Google, Entra ID, GitLab…): people sign in to private projects through it; unset: only ticket links (docs/identity.md)",
  }),
  VIEWER_OIDC_CLIENT_ID: optional({ parse: text, doc: 'client id of the gateway at VIEWER_OIDC_ISSUER; required with it' }),
  VIEWER_OIDC_CLIENT_SECRET: optional({
    parse: text,
    secret: true,
    doc: 'client secret of the gateway at VIEWER_OIDC_ISSUER; or VIEWER_OIDC_CLIENT_SECRET_FILE',
  }),
  VIEWER_OIDC_CLIENT_SECRET_FILE: optional({ parse: text, doc: 'file holding the client secret (a mounted secret), instead of VIEWER_OIDC_CLIENT_SECRET' }),
  VIEWER_OIDC_SCOPES: given({
    default: 'openid email profile',
    parse: scopeList,
    doc: 'space-separated scopes asked of the provider; openid is always among them (add groups where the provider needs it)',
  }),
  VIEWER_OIDC_REDIRECT_PATH: given({
    default: '/login/callback',
    parse: redirectPath,
    doc: 'path on the API host the provider sends people back to; register PUBLIC_URL + this path as the redirect URI',
  }),
  VIEWER_POLICY_FILE: optional({
    parse: text,
    doc: 'JSON file saying which groups, email domains or emails may view which private projects (docs/identity.md); required with VIEWER_OIDC_ISSUER',
  }),
  VIEWER_LOGIN_TTL: given({
    default: '3600',
    parse: wholeNumber(0, 86400),
    doc: 'seconds the API host remembers a sign-in, so a second private origin needs no trip to the provider (1 h); 0: every origin asks the provider',
  }),
  TICKET_TTL: given({ default: '300', parse: wholeNumber(10, 86400), doc: 'seconds a viewer ticket link stays valid' }),
  SESSION_TTL: given({ default: String(8 * 3600), parse: wholeNumber(60, 30 * 86400), doc: 'seconds a viewer session cookie stays valid (8 h)' }),
  CACHE_TTL_DAYS: given({ default: '7', parse: wholeNumber(1, 3650), doc: 'cache entries not restored for this many days are deleted by gc' }),
  CACHE_QUOTA_BYTES: given({
    default: String(10 * GiB),
    parse: byteSize(1, 1024 * TiB),
    doc: 'per-project cache total (10 GiB); gc evicts least recently used entries above it',
  }),
  CACHE_MAX_BYTES: given({ default: String(10 * GiB), parse: byteSize(1, 5 * TiB), doc: 'largest single cache archive accepted (10 GiB)' }),
  CACHE_UPLOAD_TTL: given({
    default: '3600',
    parse: wholeNumber(60, 7 * 86400),
    doc: 'seconds the presigned part URLs of a direct cache upload stay valid',
  }),
  CACHE_PART_BYTES: given({ default: String(64 * MiB), parse: byteSize(5 * MiB, 5 * GiB), doc: 'part size of direct cache uploads (64 MiB)' }),
  ARTIFACT_RETENTION_DAYS: given({
    default: '30',
    parse: wholeNumber(1, 36500),
    doc: 'gc deletes artifacts uploaded without expire_in this long after their upload (never the files of a pinned build)',
  }),
  GC_INTERVAL_MINUTES: given({
    default: '0',
    parse: wholeNumber(0, 7 * 24 * 60),
    doc: 'run gc in the server every N minutes (enable on one instance); 0: only `artifact-gateway gc`',
  }),
  LOG_LEVEL: given({ default: 'info', parse: oneOf(LOG_LEVELS), doc: 'how much the server logs' }),
  SHUTDOWN_TIMEOUT: given({ default: '10', parse: wholeNumber(0, 3600), doc: 'seconds SIGTERM waits for in-flight requests' }),
  HEADERS_TIMEOUT: given({
    default: '20',
    parse: wholeNumber(1, 600),
    doc: 'seconds a client has to send its request headers; a slower one is cut (within a second of the limit)',
  }),
  TRUST_PROXY: given({ default: 'false', parse: boolean, doc: 'trust X-Forwarded-* and X-Request-Id from the proxy in front' }),
} satisfies Record<string, Variable<unknown>>;

export type VariableName = keyof typeof VARIABLES;

/** Each variable's value: parsed from the environment, else from its default, else undefined. */
export type Values = { [N in VariableName]: (typeof VARIABLES)[N] extends Variable<infer V> ? V : never };
