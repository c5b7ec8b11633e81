/**
 * What the name properties assert about an accepted name, shared by the committed properties and
 * the ones that wait for a fix.
 */
import { posix } from 'node:path';
import { BadRequestError } from '../../src/errors';
import { decodings } from './arbitraries';

export const PREFIX = '/p/x';

/** Runs `parse`; a refusal must be a 400 (BadRequestError or InvalidKeyError), anything else is rethrown. */
export function acceptedOrRefused<T>(parse: () => T): { accepted: true; value: T } | { accepted: false } {
  try {
    return { accepted: true, value: parse() };
  } catch (err) {
    if (err instanceof BadRequestError && err.status === 400) return { accepted: false };
    throw err;
  }
}

/** Why `name` is not a safe name when taken literally, or undefined. */
export function unsafeLiterally(name: string): string | undefined {
  const resolved = posix.resolve(PREFIX, name);
  const inside = resolved === PREFIX ? name === '' : resolved.startsWith(`${PREFIX}/`);
  if (!inside) return `resolves to ${resolved}, not below ${PREFIX}`;
  const body = name.endsWith('/') ? name.slice(0, -1) : name;
  if (body !== '' && body.split('/').some((s) => s === '.' || s === '..')) return "has a '.' or '..' segment";
  if (name.includes('\\')) return 'has a backslash';
  return undefined;
}

/** Why `name`, or what any number of further decodeURIComponent calls make of it, is unsafe. */
export function unsafeAfterDecoding(name: string): string | undefined {
  for (const [i, d] of decodings(name).entries()) {
    const why = unsafeLiterally(d);
    if (why) return `after ${i} further decoding(s) ${JSON.stringify(d)} ${why}`;
  }
  return undefined;
}
