/**
 * Option values the subcommands share, each checked into a UsageError that names the option
 * (exit 2): whole numbers, ids, the gateway URL and token (never echoed). The gateway's own keys,
 * which token and ticket need, are read in gateway-auth.ts: the runner client bundles this file
 * and must not carry them.
 */
import { findCiToken } from '../client/ci-token';
import { UsageError } from './command';

export function required(value: string | undefined, option: string): string {
  if (value === undefined || value === '') throw new UsageError(`the option '--${option}' is required`);
  return value;
}

/** A whole number option within [min, max]; `fallback` when absent. */
export function wholeNumber(value: string | undefined, option: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`the option '--${option}' expects a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A project or build id, checked with the same pattern the gateway checks. */
export function id(value: string | undefined, option: string, pattern: RegExp): string {
  const v = required(value, option);
  if (!pattern.test(v))
    throw new UsageError(`the option '--${option}' got ${JSON.stringify(v)}, which is not a valid ${option} id (expected ${pattern.source})`);
  return v;
}

// what requireJob accepts; checked here so that a pasted token with a stray character is a usage
// error that does not echo it, rather than a request that might
const TOKEN = /^[A-Za-z0-9_\-.=]+$/;

export interface Gateway {
  baseUrl: URL;
  token: string;
  /** Replaces the token in any text about to be printed. */
  redact: (text: string) => string;
}

/**
 * The gateway URL and the job's token: --token, else ARTIFACT_GATEWAY_TOKEN, else the OIDC ID
 * token the CI offers the job (client/ci-token.ts), asked for with the audience
 * ARTIFACT_GATEWAY_AUDIENCE or, by default, the gateway URL's origin.
 */
export async function gatewayOptions(values: { url?: string; token?: string }, env: NodeJS.ProcessEnv): Promise<Gateway> {
  const fromOption = values.url !== undefined;
  const raw = values.url ?? env.ARTIFACT_GATEWAY_URL ?? env.PUBLIC_URL ?? 'http://localhost:8080';
  const what = fromOption ? "the option '--url'" : 'the gateway URL (ARTIFACT_GATEWAY_URL or PUBLIC_URL)';
  let baseUrl: URL;
  try {
    baseUrl = new URL(raw);
  } catch {
    throw new UsageError(`${what} is not a URL: ${JSON.stringify(raw)}`);
  }
  if (baseUrl.username || baseUrl.password) throw new UsageError(`${what} must not contain credentials`);
  if ((baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') || baseUrl.search || baseUrl.hash) {
    throw new UsageError(`${what} must be an http(s) URL without query or fragment, got ${JSON.stringify(raw)}`);
  }
  let token = (values.token ?? env.ARTIFACT_GATEWAY_TOKEN ?? '').trim();
  if (token === '') {
    const audience = env.ARTIFACT_GATEWAY_AUDIENCE?.trim() || baseUrl.origin;
    token = (await findCiToken(env, { audience }))?.token ?? '';
  }
  if (token === '') {
    throw new UsageError(
      "a job token is required: set ARTIFACT_GATEWAY_TOKEN or pass '--token' (or run where the CI offers an OIDC ID token: docs/identity.md)",
    );
  }
  if (!TOKEN.test(token)) throw new UsageError('the job token is malformed: a JWT holds only letters, digits and - _ . =');
  return { baseUrl, token, redact: (text) => text.split(token).join('[redacted]') };
}
