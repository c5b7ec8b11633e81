/** The gateway's configuration, as loadConfig makes it from the environment. */

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
  /** Bundle uploads: the most bytes sent (the tar) and the most files in one. */
  bundleMaxBytes: number;
  bundleMaxFiles: number;
  /** Largest file a report's own script may fetch inline from its origin, bytes. */
  inlineMaxBytes: number;
  /** CSP frame-ancestors for artifact pages. */
  frameAncestors: string[];
  /** The CSP of artifact pages (artifacts/helmet-policy.ts), and the projects that get `strict` whatever it is. */
  contentPolicy: 'reports' | 'strict';
  strictContentProjects: string[];
  jobTokens: {
    issuer: string;
    audience: string;
    /** An external issuer's key instead of the HS256 key derived from the secret. */
    publicKeyPem?: string;
    publicKeyAlgorithm: 'RS256' | 'ES256' | 'EdDSA';
    jwksUrl?: URL;
  };
  /** CI issuers whose own OIDC ID tokens jobs may use (auth/oidc.ts). */
  oidc: {
    /** The policy file, absolute; absent: no OIDC issuer is trusted. */
    policyFile?: string;
    /** Each fetch of a discovery document or JWKS must answer within this, ms. */
    fetchTimeoutMs: number;
    /** An unknown key id refetches the JWKS at most this often, ms. */
    keyCooldownMs: number;
  };
  /** People signing in through the organisation's OpenID provider (auth/people-login.ts); absent: tickets only. */
  viewerLogin?: {
    /** The issuer URL exactly as configured (and as its ID tokens carry it). */
    issuer: string;
    clientId: string;
    /** The secret itself, or the file it is read from at start. */
    clientSecret?: string;
    clientSecretFile?: string;
    scopes: string[];
    /** Path on the API host the provider redirects back to. */
    redirectPath: string;
    /** The viewer policy file, absolute. */
    policyFile: string;
    /** How long the API host remembers a sign-in, seconds; 0: not at all. */
    loginTtlSeconds: number;
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
