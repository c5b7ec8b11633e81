/**
 * pino logger. Secrets never reach a log line: headers that carry credentials are redacted by
 * path, and URLs are logged through redactUrl(), which blanks signed query parameters.
 */
import pino, { type Logger } from 'pino';
import type { DestinationStream } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-amz-security-token"]',
          'res.headers["set-cookie"]',
          '*.secretAccessKey',
          '*.sessionToken',
          '*.signingSecret',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

// Query parameters that are credentials by name: SigV4 presigned URLs, our blob URLs, tickets,
// tokens, an OpenID sign-in's authorization code, state and nonce, and the names people give
// them (jwt, authorization, api_key, password, session…).
const SECRET_PARAM =
  /signature|credential|security-token|token|ticket|secret|passw|^pwd$|^sig$|^key$|^code$|^state$|^nonce$|jwt|auth|session|cookie|api[-_]?key|access[-_]?key|private/i;

// Values that are credentials by their look, whatever the parameter is called: a JWT or JWS
// (three base64url parts, the first a JSON header); 32+ hex digits (a signature, a digest-based
// key); 32+ characters of base64 mixing digits, upper and lower case (a random token). Paths and
// words ("reports/coverage/index.html") have neither shape.
const JWT_ANYWHERE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
const HEX_SECRET = /^[0-9a-f]{32,}$/i;
const BASE64_SECRET = /^(?=.*\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9+/_=-]{32,}$/;
const looksSecret = (v: string) => v.length >= 32 && (HEX_SECRET.test(v) || BASE64_SECRET.test(v));

const REDACTED = '[redacted]';

/**
 * `path?query` with every credential replaced: any JWT-shaped string wherever it stands (a token
 * pasted into a path too), and the value of every query parameter that is a credential by name
 * or by look.
 */
export function redactUrl(url: string): string {
  const jwtFree = url.includes('eyJ') ? url.replace(JWT_ANYWHERE, REDACTED) : url;
  const q = jwtFree.indexOf('?');
  if (q === -1) return jwtFree;
  const params = new URLSearchParams(jwtFree.slice(q + 1));
  let changed = jwtFree !== url;
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    if (SECRET_PARAM.test(name) || values.some(looksSecret)) {
      params.set(name, REDACTED);
      changed = true;
    }
  }
  return changed ? `${jwtFree.slice(0, q)}?${params.toString()}` : url;
}
