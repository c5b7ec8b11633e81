import { InvalidKeyError } from '../src/errors';
import { joinKey, joinPrefix, refuseEscapes, toCacheKey, toKeyPrefix, toStorageKey } from '../src/storage/keys';

describe('storage keys', () => {
  it.each([
    ['..', /'\.\.' segment/],
    ['a/../b', /'\.\.' segment/],
    ['a/..', /'\.\.' segment/],
    ['./a', /'\.' segment/],
    ['a\\b', /backslash/],
    ['..\\..\\etc', /backslash/],
    ['/etc/passwd', /must be relative/],
    ['a//b', /empty path segment/],
    ['a/', /must not end with/],
    ['', /empty/],
    ['a\u0000b', /control character/],
    ['a\nb', /control character/],
    ['a\rb', /control character/],
    ['a\u007fb', /control character/],
    ['a\u0085b', /control character/],
    ['a\u2028b', /control character/],
    ['\uFEFFa', /control character/],
    ['a\uFFFDb', /invalid UTF-8/],
    ['a\ud800b', /lone UTF-16 surrogate/],
    ['report\u202etxt.exe', /bidirectional control character/],
    ['\u2066a', /bidirectional control character/],
    ['a\u200fb', /bidirectional control character/],
    ['a\u061cb', /bidirectional control character/],
    [`${'x'.repeat(255)}/${'y'.repeat(255)}/${'z'.repeat(255)}/${'w'.repeat(200)}/${'v'.repeat(56)}`, /is 1025 bytes long; the limit is 1024/],
    [`${'é'.repeat(120)}/`.repeat(4) + 'é'.repeat(40), /bytes long/],
    [`a/${'s'.repeat(256)}`, /segment over 255 bytes/],
  ])('rejects %j with a message that says what is wrong', (raw, message) => {
    expect(() => toStorageKey(raw)).toThrow(InvalidKeyError);
    expect(() => toStorageKey(raw)).toThrow(message);
  });

  it.each([
    'report/index.html',
    'with space.txt',
    'ünïcødé/日本語.html',
    'a+b.txt',
    'hash#x.txt',
    '[brackets].json',
    '%2e%2e', // stays literal: decoding happens once, at the HTTP edge, never here
    '...',
    '.hidden/.env',
    `${'x'.repeat(255)}/${'y'.repeat(255)}/${'z'.repeat(255)}/${'w'.repeat(200)}/${'v'.repeat(55)}`, // 1024 bytes
  ])('accepts %j unchanged', (raw) => {
    expect(toStorageKey(raw)).toBe(raw);
  });

  it('accepts prefixes with a trailing slash, and the empty prefix', () => {
    expect(toKeyPrefix('a/b/')).toBe('a/b/');
    expect(toKeyPrefix('a/b')).toBe('a/b');
    expect(toKeyPrefix('')).toBe('');
    expect(() => toKeyPrefix('a/../')).toThrow(/'\.\.' segment/);
  });

  it('joins parts and validates the result, so a part cannot smuggle a traversal', () => {
    expect(joinKey('p', 'b', 'x.html')).toBe('p/b/x.html');
    expect(joinPrefix('p', 'b')).toBe('p/b/');
    expect(() => joinKey('p', '..', 'x')).toThrow(InvalidKeyError);
    expect(() => joinKey('p', '', 'x')).toThrow(/empty path segment/);
  });

  it('names the thing being validated in the message', () => {
    expect(() => toStorageKey('a/../b', 'artifact path')).toThrow(/^artifact path contains a '\.\.' segment$/);
  });

  describe('a decoded name is a fixed point of percent-decoding', () => {
    it.each(['%2e%2e', '%252e', 'a%2541', '%C3%A9', '%e2%80%ae'])('refuses %j, which a further decoding would change', (name) => {
      expect(() => refuseEscapes(name, 'artifact path')).toThrow(/^artifact path is percent-encoded more than once/);
      expect(() => toCacheKey(`npm-${name}`)).toThrow(/^cache key is percent-encoded more than once/);
    });

    it.each(['50%off.txt', '100%', '%', '%zz', 'a%2', '%g0'])('accepts %j: decoding it again changes nothing', (name) => {
      expect(() => refuseEscapes(name, 'artifact path')).not.toThrow();
    });
  });
});
