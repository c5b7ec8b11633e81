/**
 * Generators the property tests share: names and request paths built from the pieces traversal
 * payloads are made of (dots and slashes in every encoding, overlong UTF-8, backslashes, control
 * and bidirectional characters), mixed with plain names and arbitrary unicode.
 */
import fc from 'fast-check';

/** A dot, a slash or a backslash, plain or percent-encoded once, twice or three times. */
export const ENCODED_SEPARATORS = [
  '.',
  '..',
  '%2e',
  '%2E',
  '%252e',
  '%252E',
  '%25252e',
  '%2525252e',
  '/',
  '%2f',
  '%2F',
  '%252f',
  '%25252f',
  '\\',
  '%5c',
  '%5C',
  '%255c',
  '%25255c',
] as const;

/** Overlong and otherwise invalid UTF-8 for '.', '/' and '\', which a lax decoder maps back. */
export const OVERLONG = ['%c0%ae', '%C0%AE', '%e0%80%ae', '%f0%80%80%ae', '%c0%af', '%e0%80%af', '%c1%9c', '%c0%2e', '%ae', '%80'] as const;

/** Characters that have no place in a name: C0/C1 controls, separators, BOM, bidi controls. */
export const CONTROL_CHARS = [
  '\u0000',
  '\u0009',
  '\u000a',
  '\u000d',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\ufffd',
  '\ud800',
  '\udc00',
] as const;
export const BIDI_CHARS = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'] as const;

/** Things a name is normally made of. */
export const PLAIN = [
  'a',
  'report',
  'index.html',
  'x.txt',
  '...',
  '.hidden',
  'é',
  '日本',
  ' ',
  '+',
  '#',
  '[x]',
  '%',
  '%zz',
  '%2',
  '50%off',
  '%25',
  'e\u0301',
] as const;

const pct = (c: string) => encodeURIComponent(c);

/** One piece of a traversal payload, plain or percent-encoded. */
export const piece: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ENCODED_SEPARATORS) },
  { weight: 2, arbitrary: fc.constantFrom(...OVERLONG) },
  { weight: 2, arbitrary: fc.constantFrom(...CONTROL_CHARS, ...BIDI_CHARS) },
  { weight: 2, arbitrary: fc.constantFrom(...CONTROL_CHARS, ...BIDI_CHARS).map((c) => (c >= '\ud800' && c <= '\udfff' ? '%ed%a0%80' : pct(c))) },
  { weight: 4, arbitrary: fc.constantFrom(...PLAIN) },
  { weight: 2, arbitrary: fc.fullUnicodeString({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
);

/** A name or request path: a run of pieces. */
export const payload: fc.Arbitrary<string> = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));

/** Payloads and arbitrary strings, for anything that takes a name. */
export const anyName: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: payload },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  // near the length limits
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '日', '/', '%2e'), fc.integer({ min: 200, max: 1100 })).map(([c, n]) => c.repeat(n)) },
);

/** Every string that repeated decodeURIComponent makes of `s`, `s` first, until it fails or stops changing. */
export function decodings(s: string, max = 8): string[] {
  const out = [s];
  let cur = s;
  for (let i = 0; i < max; i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      break;
    }
    if (next === cur) break;
    out.push(next);
    cur = next;
  }
  return out;
}

/** What a request path may carry on the wire: 0x21-0xff, with anything else percent-encoded. */
export function onTheWire(path: string): string {
  return [...path].map((c) => (/^[\u0021-\u007e]$/.test(c) ? c : encodeURIComponent(c.length === 1 && c >= '\ud800' && c <= '\udfff' ? '\ufffd' : c))).join('');
}

/** A header value node will send: tab, printable ASCII and latin-1 only. */
export const headerValue = (maxLength = 60): fc.Arbitrary<string> =>
  fc
    .string({
      unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9)).map((n) => String.fromCharCode(n)),
      maxLength,
    })
    .map((s) => s.trim());
