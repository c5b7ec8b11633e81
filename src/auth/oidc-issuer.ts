/**
 * One trusted issuer's signing keys: its discovery document (`<issuer>/.well-known/openid-configuration`)
 * names its `jwks_uri`, and jose's remote JWK set fetches and caches the keys, fetching again when
 * a token names a key id it does not know (at most once per cooldown, so a stream of made-up kids
 * cannot make the gateway hammer the CI). Both fetches are bounded by a timeout. An issuer that
 * does not answer, or answers nonsense, is IssuerUnavailableError (503, retry later): a CI outage
 * must not read as "your token is wrong".
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { createRemoteJWKSet, errors } from 'jose';
import { IssuerUnavailableError } from '../errors';

export interface IssuerKeyOptions {
  /** Each fetch (discovery, JWKS) must answer within this. */
  timeoutMs: number;
  /** An unknown kid refetches the JWKS at most this often; a failed discovery is retried no sooner either. */
  cooldownMs: number;
  now?: () => number;
}

export type KeySet = ReturnType<typeof createRemoteJWKSet>;

const DISCOVERY_MAX_BYTES = 64 * 1024;
/** The discovery document is fetched again after this (keys have their own, shorter, cache). */
const DISCOVERY_MAX_AGE_MS = 60 * 60_000;

export class IssuerKeys {
  private keys?: { set: KeySet; jwksUri: string; at: number };
  private pending?: Promise<KeySet>;
  private failed?: { at: number; error: IssuerUnavailableError };
  private readonly now: () => number;

  constructor(
    readonly issuer: string,
    private readonly options: IssuerKeyOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The issuer's key set, discovering it first when needed; IssuerUnavailableError when that
   * fails. Once there is a key set, a stale discovery document is refreshed in the background and
   * the key set in hand keeps serving, also while the refresh fails.
   */
  async keySet(): Promise<KeySet> {
    const now = this.now();
    if (this.keys) {
      if (now - this.keys.at >= DISCOVERY_MAX_AGE_MS) void this.refresh().catch(() => undefined);
      return this.keys.set;
    }
    if (this.failed && now - this.failed.at < this.options.cooldownMs) throw this.failed.error;
    return this.refresh();
  }

  /** One discovery at a time, however many requests are waiting for it. */
  private refresh(): Promise<KeySet> {
    this.pending ??= this.discover().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async discover(): Promise<KeySet> {
    const url = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const jwksUri = await this.fetchJwksUri(url);
      const set =
        this.keys?.jwksUri === jwksUri
          ? this.keys.set
          : createRemoteJWKSet(new URL(jwksUri), {
              timeoutDuration: this.options.timeoutMs,
              cooldownDuration: this.options.cooldownMs,
              cacheMaxAge: 10 * 60_000,
              agent: deadlineAgent(new URL(jwksUri).protocol, this.options.timeoutMs),
            });
      this.keys = { set, jwksUri, at: this.now() };
      this.failed = undefined;
      return set;
    } catch (err) {
      const error = err instanceof IssuerUnavailableError ? err : new IssuerUnavailableError(`${this.issuer}: ${(err as Error).message}`, { cause: err });
      this.failed = { at: this.now(), error };
      // with a key set in hand, try the discovery document again after the cooldown, not on every request
      if (this.keys) this.keys.at = this.now() - DISCOVERY_MAX_AGE_MS + this.options.cooldownMs;
      throw error;
    }
  }

  private async fetchJwksUri(url: string): Promise<string> {
    const unavailable = (why: string) => new IssuerUnavailableError(`discovery document of ${this.issuer} ${why}`);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      throw unavailable(timedOut ? `did not answer within ${this.options.timeoutMs} ms` : `could not be fetched (${causeOf(err)})`);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw unavailable(`answered ${res.status}`);
    }
    const text = await readLimited(res, DISCOVERY_MAX_BYTES, this.options.timeoutMs).catch((err: unknown) => {
      throw unavailable(`could not be read (${(err as Error).message})`);
    });
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw unavailable('is not JSON');
    }
    // OpenID Connect Discovery 1.0 §4.3: the issuer it names must be the one it was fetched for
    if (doc.issuer !== this.issuer) throw unavailable(`names another issuer (${JSON.stringify(String(doc.issuer).slice(0, 200))})`);
    if (typeof doc.jwks_uri !== 'string') throw unavailable('has no jwks_uri');
    let jwks: URL;
    try {
      jwks = new URL(doc.jwks_uri);
    } catch {
      throw unavailable('has a jwks_uri that is not a URL');
    }
    if (jwks.protocol !== new URL(this.issuer).protocol) throw unavailable(`has a jwks_uri on another scheme than the issuer (${jwks.protocol})`);
    return jwks.toString();
  }
}

/**
 * jose's timeout covers the wait for response headers only; a JWKS server that sends headers and
 * then trickles its body would hold the fetch (and every verification waiting on it) forever. This
 * agent gives each connection an absolute deadline: past it, the socket is destroyed and the
 * fetch fails, so the next token tries again.
 */
function deadlineAgent(protocol: string, ms: number): HttpAgent {
  const withDeadline = (socket: Socket): Socket => {
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`no complete answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  type Create = (options: object, callback: (err: Error | null, socket: Socket) => void) => Socket;
  const agent = protocol === 'https:' ? new HttpsAgent() : new HttpAgent();
  const create = (agent as unknown as { createConnection: Create }).createConnection.bind(agent);
  (agent as unknown as { createConnection: Create }).createConnection = (options, callback) => withDeadline(create(options, callback));
  return agent;
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

async function readLimited(res: Response, max: number, timeoutMs: number): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const deadline = setTimeout(() => void reader.cancel(new Error('timed out')), timeoutMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw new Error(`larger than ${max} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(deadline);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Errors from fetching the key set during jwtVerify: the issuer's fault, not the token's. A key set
 * that was fetched and has no key for the token's kid is the token's fault (JWKSNoMatchingKey).
 */
export function keyFetchFailure(issuer: string, err: unknown): IssuerUnavailableError | undefined {
  if (err instanceof errors.JWKSTimeout) return new IssuerUnavailableError(`JWKS of ${issuer} did not answer in time`, { cause: err });
  if (err instanceof errors.JWKSInvalid) return new IssuerUnavailableError(`JWKS of ${issuer} is not a valid key set`, { cause: err });
  // non-200 answers and unparseable bodies are plain JOSEErrors; network errors are not jose's at all
  if (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') {
    return new IssuerUnavailableError(`JWKS of ${issuer}: ${err.message}`, { cause: err });
  }
  // not `instanceof Error`: node's own errors may come from another realm than this module's
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!(err instanceof errors.JOSEError) && typeof e?.code === 'string' && /^E[A-Z_]+$/.test(e.code)) {
    return new IssuerUnavailableError(`JWKS of ${issuer} could not be fetched (${e.code})`, { cause: err });
  }
  return undefined;
}
