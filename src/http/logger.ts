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

// Query parameters that are credentials: SigV4 presigned URLs, our blob URLs, tickets, tokens.
const SECRET_PARAM = /signature|credential|security-token|token|ticket|secret|^sig$|^key$/i;

/** `path?query` with the value of every credential-bearing parameter replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  for (const name of new Set(params.keys())) {
    if (SECRET_PARAM.test(name)) {
      params.set(name, '[redacted]');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${params.toString()}` : url;
}
