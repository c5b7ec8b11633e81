import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/http/logger';
import { repeatedKeys } from './json-keys';

/** A config as the defaults give it, with env-style overrides; never touches process.env. */
export function makeConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ SIGNING_SECRET: 'test-signing-secret-that-is-long-enough-0123456789', ...env });
}

/** A logger whose lines are kept, parsed, for assertions. */
export function captureLogger(level = 'info'): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      raw.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger(level, sink);
  return {
    logger,
    get lines() {
      return raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          // every line the tests read is held to one key per name (see json-keys.ts)
          const repeated = repeatedKeys(l);
          if (repeated.length > 0) throw new Error(`a log line repeats ${repeated.join(', ')}: ${l}`);
          return JSON.parse(l) as Record<string, unknown>;
        });
    },
    text: () => raw.join(''),
  };
}
