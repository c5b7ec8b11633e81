/**
 * Request paths -> validated names. Percent-decoding happens exactly once, here; the result then
 * goes through the key module. Anything that still holds a percent-escape after that one decode
 * is refused (refuseEscapes): it is how traversal payloads hide from one layer and reach the
 * next (%252e%252e, %25252e%25252e).
 */
import { InvalidKeyError } from '../errors';
import { refuseEscapes, toStorageKey, type StorageKey } from '../storage/keys';

export function decodePath(raw: string, what: string): StorageKey {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // also what overlong UTF-8 such as %c0%ae (a disguised '.') produces
    throw new InvalidKeyError(`${what} is not valid percent-encoded UTF-8`);
  }
  refuseEscapes(decoded, what);
  return toStorageKey(decoded, what);
}

/** Encodes a stored path for a URL: each segment percent-encoded, slashes kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
