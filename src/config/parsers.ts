/**
 * How one variable's text becomes a value. A parser throws Invalid with what it expected; the
 * loader prefixes the variable's name, so every message says which variable is wrong.
 */
import { isIP } from 'node:net';

export class Invalid extends Error {
  readonly problems: string[];
  constructor(...problems: string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

/** A parser, and what it accepts in words (for `serve --help` and the documentation). */
export type Parser<T> = ((raw: string) => T) & { readonly accepts: string };

/** A parser for a rule of one variable's own. */
export function parser<T>(accepts: string, parse: (raw: string) => T): Parser<T> {
  return Object.assign(parse, { accepts });
}

export const text = parser('text', (raw) => raw);

export function wholeNumber(min: number, max: number): Parser<number> {
  return parser(`${min} to ${max}`, (raw) => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new Invalid(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return Number(raw);
  });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const inUnits = (n: number): string => {
  let unit = 0;
  while (n >= 1024 && n % 1024 === 0 && unit < UNITS.length - 1) [n, unit] = [n / 1024, unit + 1];
  return `${n} ${UNITS[unit]}`;
};

/** A size in bytes: a whole number as for wholeNumber, its range shown in binary units. */
export function byteSize(min: number, max: number): Parser<number> {
  const whole = wholeNumber(min, max);
  return parser(`bytes, ${inUnits(min)} to ${inUnits(max)}`, (raw) => whole(raw));
}

export const boolean = parser('true or false', (raw) => {
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new Invalid(`expected true or false, got ${JSON.stringify(raw)}`);
});

/** One of a fixed set of words, e.g. `fs` or `s3`. */
export function oneOf<const W extends string>(words: readonly W[]): Parser<W> {
  const expected = words.length === 2 ? words.join(' or ') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
  return parser(expected, (raw) => {
    if (!(words as readonly string[]).includes(raw)) throw new Invalid(`expected ${expected}, got ${JSON.stringify(raw)}`);
    return raw as W;
  });
}

export const httpUrl = parser('http(s) URL', (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Invalid(`expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Invalid(`expected an http or https URL, got ${JSON.stringify(raw)}`);
  if (url.username || url.password) throw new Invalid('must not contain credentials');
  return url;
});

/** An http(s) URL as a string without its trailing slash, as the S3 client takes endpoints. */
export const endpoint = parser('http(s) URL', (raw) => httpUrl(raw).toString().replace(/\/$/, ''));

export const origin = parser('http(s) origin', (raw) => {
  const url = httpUrl(raw);
  if (url.pathname !== '/' || url.search || url.hash) {
    throw new Invalid(`must be an origin without path, query or fragment, got ${JSON.stringify(raw)}`);
  }
  return url;
});

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A DNS name, lower-cased; IP addresses are refused (an origin per label needs names). */
export const dnsName = parser('DNS name', (raw) => {
  const name = raw.toLowerCase();
  if (!HOSTNAME.test(name) || isIP(name)) throw new Invalid(`expected a DNS name such as example-artifacts.net, got ${JSON.stringify(name)}`);
  return name;
});

// S3 bucket naming rules (the portable subset)
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const bucket = parser('S3 bucket name', (raw) => {
  if (!BUCKET.test(raw)) throw new Invalid(`${JSON.stringify(raw)} is not a valid S3 bucket name`);
  return raw;
});

/** Items split by `separator`, each checked by `item` (which throws Invalid); every bad item is reported. */
export function listOf<T>(accepts: string, separator: RegExp, item: (value: string) => T): Parser<T[]> {
  return parser(accepts, (raw) => {
    const items: T[] = [];
    const problems: string[] = [];
    for (const value of raw
      .split(separator)
      .map((s) => s.trim())
      .filter(Boolean)) {
      try {
        items.push(item(value));
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
        problems.push(...err.problems);
      }
    }
    if (problems.length > 0) throw new Invalid(...problems);
    return items;
  });
}
