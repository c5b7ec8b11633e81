/**
 * Storage keys: the ONE place where artifact paths, cache keys and prefixes are validated and
 * turned into keys. Drivers accept only the branded types below, so nothing can reach storage
 * without passing through here (flydrive's key normalisation, bazel-remote's validation).
 */
import { InvalidKeyError } from '../errors';

declare const storageKeyBrand: unique symbol;
declare const keyPrefixBrand: unique symbol;

/** A validated object key: '/'-separated, non-empty segments, no '.'/'..', no control chars. */
export type StorageKey = string & { readonly [storageKeyBrand]: true };
/** A validated listing prefix: '' or a key-shaped string that may end with '/'. */
export type KeyPrefix = string & { readonly [keyPrefixBrand]: true };

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** A segment becomes a file or directory name on the fs driver: ext4/xfs allow 255 bytes. */
export const MAX_SEGMENT_BYTES = 255;

// C0 controls, DEL, C1 controls; plus the Unicode line/paragraph separators and BOM, which are
// invisible and break logs and headers.
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;

// Bidirectional controls reorder what a listing shows: `txt.exe` behind U+202E reads as `exe.txt`
// (the "Trojan Source" trick applied to file names). No real artifact or cache key needs them.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

// A percent sign followed by two hex digits: what a further decoding would change.
const PERCENT_ESCAPE = /%[0-9a-f]{2}/i;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function check(raw: string, what: string, allowTrailingSlash: boolean): string {
  if (typeof raw !== 'string') throw new InvalidKeyError(`${what} must be a string`);
  if (raw.length === 0) throw new InvalidKeyError(`${what} is empty`);
  if (raw.includes('\uFFFD')) {
    // what TextDecoder makes of invalid or overlong UTF-8 such as %c0%ae; never a real name
    throw new InvalidKeyError(`${what} contains invalid UTF-8`);
  }
  if (LONE_SURROGATE.test(raw)) throw new InvalidKeyError(`${what} contains a lone UTF-16 surrogate`);
  if (FORBIDDEN_CHARS.test(raw)) throw new InvalidKeyError(`${what} contains a control character`);
  if (BIDI_CONTROLS.test(raw)) {
    throw new InvalidKeyError(`${what} contains a bidirectional control character (U+202E and its kin make names read backwards)`);
  }
  if (raw.includes('\\')) throw new InvalidKeyError(`${what} contains a backslash`);
  if (raw.startsWith('/')) throw new InvalidKeyError(`${what} must be relative (it starts with '/')`);
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidKeyError(`${what} is ${bytes} bytes long; the limit is ${MAX_KEY_BYTES}`);
  }
  const body = allowTrailingSlash && raw.endsWith('/') ? raw.slice(0, -1) : raw;
  for (const segment of body.split('/')) {
    if (segment === '') throw new InvalidKeyError(`${what} has an empty path segment ('//')`);
    if (segment === '.' || segment === '..') {
      throw new InvalidKeyError(`${what} contains a '${segment}' segment`);
    }
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      throw new InvalidKeyError(`${what} has a path segment over ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  return raw;
}

/**
 * Names that come from users (artifact paths, cache keys) are decoded exactly once, and the
 * decoded name must be a fixed point of percent-decoding: it may hold a '%' (`50%off.txt`), but
 * never a '%' followed by two hex digits. So no layer that decodes again (a proxy, a browser, a
 * script, a second gateway) can turn a stored name into another one, let alone into a traversal
 * (`%25252e%25252e` -> `%252e%252e` -> `%2e%2e` -> `..`). Internal keys (which percent-encode
 * ids on purpose) are not checked here.
 */
export function refuseEscapes(decoded: string, what: string): void {
  const m = PERCENT_ESCAPE.exec(decoded);
  if (m) {
    throw new InvalidKeyError(
      `${what} is percent-encoded more than once (after decoding it still contains ${JSON.stringify(m[0])}; encode a literal % as %25 only once)`,
    );
  }
}

/** Validates a complete key. Throws InvalidKeyError (400) with a message saying what is wrong. */
export function toStorageKey(raw: string, what = 'key'): StorageKey {
  if (typeof raw === 'string' && raw.length > 1 && raw.endsWith('/')) {
    throw new InvalidKeyError(`${what} must not end with '/'`);
  }
  return check(raw, what, false) as StorageKey;
}

/** Validates a listing prefix; '' lists everything in the bucket. */
export function toKeyPrefix(raw: string, what = 'prefix'): KeyPrefix {
  if (raw === '') return raw as KeyPrefix;
  return check(raw, what, true) as KeyPrefix;
}

/** Joins already-validated parts; each part is validated again, so this cannot smuggle '..'. */
export function joinKey(...parts: string[]): StorageKey {
  return toStorageKey(parts.join('/'));
}

/** A prefix that lists everything below `parts` (ends with '/'). */
export function joinPrefix(...parts: string[]): KeyPrefix {
  return toKeyPrefix(parts.join('/') + '/');
}

/** Cache keys (GitHub's limit is 512 characters). */
export const MAX_CACHE_KEY_CHARS = 512;

/**
 * A cache key or restore prefix: NFC-normalised, so keys that differ only in Unicode
 * normalisation are one key (never two look-alike entries); no commas (they separate restore
 * keys); otherwise the rules of any key. Returns the normalised string.
 */
export function toCacheKey(raw: string, options: { prefix?: boolean } = {}): string {
  const what = options.prefix ? 'restore key' : 'cache key';
  if (typeof raw !== 'string' || raw.trim() === '') throw new InvalidKeyError(`${what} is empty`);
  if (LONE_SURROGATE.test(raw)) throw new InvalidKeyError(`${what} contains a lone UTF-16 surrogate`);
  const key = raw.normalize('NFC');
  refuseEscapes(key, what);
  if ([...key].length > MAX_CACHE_KEY_CHARS) {
    throw new InvalidKeyError(`${what} is ${[...key].length} characters long; the limit is ${MAX_CACHE_KEY_CHARS}`);
  }
  if (key.includes(',')) throw new InvalidKeyError(`${what} contains a comma (commas separate restore keys)`);
  return options.prefix ? check(key, what, true) : toStorageKey(key, what);
}
