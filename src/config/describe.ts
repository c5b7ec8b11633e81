/**
 * The effective configuration for the start-up log line. Top-level fields are listed one by one,
 * not spread, so that a field added later stays out of the log until someone decides it may be shown.
 */
import type { Config } from './types';

const REDACTED = '[redacted]';

export function describeConfig(config: Config): Record<string, unknown> {
  const storage =
    config.storage.driver === 's3'
      ? {
          ...config.storage,
          secretAccessKey: config.storage.secretAccessKey ? REDACTED : undefined,
          sessionToken: config.storage.sessionToken ? REDACTED : undefined,
        }
      : config.storage;
  return {
    host: config.host,
    port: config.port,
    publicUrl: config.publicUrl.origin,
    artifactDomain: config.artifactDomain,
    storage,
    presignTtlSeconds: config.presignTtlSeconds,
    signingSecret: config.signingSecret ? REDACTED : `[in ${config.signingSecretFile}]`,
    isolation: config.isolation,
    publicProjects: [...config.publicProjects],
    artifactMaxBytes: config.artifactMaxBytes,
    bundleMaxBytes: config.bundleMaxBytes,
    bundleMaxFiles: config.bundleMaxFiles,
    inlineMaxBytes: config.inlineMaxBytes,
    frameAncestors: config.frameAncestors,
    contentPolicy: config.contentPolicy,
    strictContentProjects: config.strictContentProjects,
    jobTokens: { ...config.jobTokens, jwksUrl: config.jobTokens.jwksUrl?.toString() },
    oidc: config.oidc,
    viewerLogin: config.viewerLogin && { ...config.viewerLogin, clientSecret: config.viewerLogin.clientSecret ? REDACTED : undefined },
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
