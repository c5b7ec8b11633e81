/**
 * Request paths -> validated names. Percent-decoding happens exactly once, here; the result then
 * goes through the key module. Anything that still looks encoded after one decode (%2e, %2f,
 * %5c: a double-encoded dot, slash or backslash) is refused: it is how traversal payloads hide
 * from one layer and reach the next (%252e%252e).
 */
import { BadRequestError, InvalidKeyError } from '../errors';
import { toStorageKey, type StorageKey } from '../storage/keys';

const STILL_ENCODED = /%(2e|2f|5c)/i;

export function decodePath(raw: string, what: string): StorageKey {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // also what overlong UTF-8 such as %c0%ae (a disguised '.') produces
    throw new InvalidKeyError(`${what} is not valid percent-encoded UTF-8`);
  }
  if (STILL_ENCODED.test(decoded)) {
    throw new InvalidKeyError(`${what} is percent-encoded twice (it still contains %2e, %2f or %5c after decoding)`);
  }
  return toStorageKey(decoded, what);
}

/** Encodes a stored path for a URL: each segment percent-encoded, slashes kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Validates a decoded route parameter against an id pattern. */
export function checkId(value: string | undefined, pattern: RegExp, what: string): string {
  if (value === undefined || !pattern.test(value)) {
    throw new BadRequestError(`${what} ${JSON.stringify(value ?? '')} is not valid (expected ${pattern.source})`, 'invalid_id');
  }
  return value;
}
