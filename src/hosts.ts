/**
 * Host header -> which part of the gateway answers. Strict on purpose: every artifact origin is a
 * security boundary, so a Host that is not exactly the API host or `<label>.<ARTIFACT_DOMAIN>`
 * (right port, no trailing dot, no IP literal) is refused with 421, never served as a default.
 */
import type { Config } from './config';

export type HostMatch = { kind: 'api' } | { kind: 'artifact'; label: string } | { kind: 'unknown'; reason: string };

/** A DNS label as origin labels are made: lowercase letters, digits, inner hyphens, <= 63. */
export const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SERVED_HOSTS_MAX = 1000;

export interface HostResolver {
  resolve(hostHeader: string | undefined): HostMatch;
  /** The origin a label is served on, e.g. https://acme-web-k3j9x2.example-artifacts.net */
  artifactOrigin(label: string): string;
}

export function createHostResolver(config: Pick<Config, 'publicUrl' | 'artifactDomain'>): HostResolver {
  const scheme = config.publicUrl.protocol;
  const apiHost = config.publicUrl.hostname.toLowerCase();
  // URL.port is '' for the scheme's default port; a Host header may carry it or not
  const port = config.publicUrl.port;
  const defaultPort = scheme === 'https:' ? '443' : '80';
  const acceptedPorts = new Set(port === '' ? ['', defaultPort] : [port]);
  const suffix = `.${config.artifactDomain}`;

  function match(hostHeader: string | undefined): HostMatch {
    if (hostHeader === undefined || hostHeader === '') return { kind: 'unknown', reason: 'no Host header' };
    // ASCII only, checked before lower-casing: 'K' (U+212A KELVIN SIGN) lower-cases to 'k', which
    // would map a name that is not <label>.<domain> to a label
    const m = /^([\x21-\x39\x3b-\x7e]+)(?::(\d{1,5}))?$/.exec(hostHeader);
    if (!m) return { kind: 'unknown', reason: 'malformed Host header' };
    const name = m[1].toLowerCase(); // host names are case-insensitive (RFC 9110 4.2.3)
    if (!acceptedPorts.has(m[2] ?? '')) return { kind: 'unknown', reason: 'unexpected port' };
    if (name === apiHost) return { kind: 'api' };
    if (name.endsWith(suffix)) {
      const label = name.slice(0, -suffix.length);
      if (LABEL.test(label)) return { kind: 'artifact', label };
    }
    return { kind: 'unknown', reason: 'not a host this gateway serves' };
  }

  // every request asks, with a handful of distinct Host values: the answer for a host this
  // gateway serves is kept (bounded; a stream of random labels only empties it now and then)
  const served = new Map<string, HostMatch>();

  return {
    resolve(hostHeader) {
      const known = hostHeader === undefined ? undefined : served.get(hostHeader);
      if (known) return known;
      const answer = match(hostHeader);
      if (answer.kind !== 'unknown' && hostHeader !== undefined) {
        if (served.size >= SERVED_HOSTS_MAX) served.clear();
        served.set(hostHeader, answer);
      }
      return answer;
    },
    artifactOrigin(label) {
      return `${scheme}//${label}${suffix}${port === '' ? '' : `:${port}`}`;
    },
  };
}
