/**
 * Properties of the one place names become storage keys (src/storage/keys.ts) and of the one
 * place request paths are decoded (src/artifacts/paths.ts): for any input, traversal payloads
 * included, the answer is a 400 or a key that stays below the directory it is put in; and the
 * names users send (paths, cache keys) stay so however often another layer decodes them again.
 * Internal keys (toStorageKey, toKeyPrefix) hold percent-encoded ids on purpose (`branch%3Amain`),
 * and storage takes them literally, so for them no further decoding is considered.
 */
import fc from 'fast-check';
import { decodePath, encodePath } from '../../src/artifacts/paths';
import { toCacheKey, toKeyPrefix, toStorageKey } from '../../src/storage/keys';
import { anyName, BIDI_CHARS, CONTROL_CHARS, decodings } from './arbitraries';
import { acceptedOrRefused, unsafeAfterDecoding, unsafeLiterally } from './names';

const RUNS = 2000;
// lone surrogates are checked by the key module itself; includes() would also find them in valid pairs
const NON_SURROGATE_CONTROLS = CONTROL_CHARS.filter((c) => c < '\ud800' || c > '\udfff');

function expectSafeOrRefused(parse: (raw: string) => string) {
  let accepted = 0;
  fc.assert(
    fc.property(anyName, (raw) => {
      const r = acceptedOrRefused(() => parse(raw));
      if (!r.accepted) return;
      accepted++;
      expect(unsafeLiterally(r.value)).toBeUndefined();
      expect(NON_SURROGATE_CONTROLS.filter((c) => r.value.includes(c))).toEqual([]);
    }),
    { numRuns: RUNS },
  );
  // both answers must be common for the property to say anything
  expect(accepted).toBeGreaterThan(RUNS / 10);
  expect(accepted).toBeLessThan(RUNS - RUNS / 10);
}

describe('names, for any input including generated traversal payloads', () => {
  it('decodePath answers 400 or a key that stays below the directory it is resolved in', () => {
    expectSafeOrRefused((raw) => decodePath(raw, 'artifact path'));
  });

  it('toStorageKey answers 400 or a key that stays below the directory it is resolved in', () => {
    expectSafeOrRefused((raw) => toStorageKey(raw));
  });

  it('toKeyPrefix answers 400 or a prefix that stays below the directory it is resolved in', () => {
    expectSafeOrRefused((raw) => toKeyPrefix(raw));
  });

  it('toCacheKey answers 400 or a key (or restore prefix) that stays below the directory it is resolved in', () => {
    expectSafeOrRefused((raw) => toCacheKey(raw));
    expectSafeOrRefused((raw) => toCacheKey(raw, { prefix: true }));
  });

  it('a path decodePath accepts comes back unchanged through encodePath and decodePath (the URLs the gateway hands out lead back to it)', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const r = acceptedOrRefused(() => decodePath(raw, 'artifact path'));
        if (r.accepted) expect(decodePath(encodePath(r.value), 'artifact path')).toBe(r.value);
      }),
      { numRuns: RUNS },
    );
  });

  it('a cache key is accepted or refused the same way whatever its Unicode normalisation', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const a = acceptedOrRefused(() => toCacheKey(raw));
        const b = acceptedOrRefused(() => toCacheKey(raw.normalize('NFD')));
        expect(b.accepted).toBe(a.accepted);
        if (a.accepted && b.accepted) expect(b.value).toBe(a.value);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('names users send, for any input including generated traversal payloads', () => {
  it('decodePath answers 400 or a key that no number of further decodings turns into a traversal or a backslash', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const r = acceptedOrRefused(() => decodePath(raw, 'artifact path'));
        if (r.accepted) expect(unsafeAfterDecoding(r.value)).toBeUndefined();
      }),
      { numRuns: RUNS, examples: [['%25252e%25252e'], ['a/%25252e%25252e/b']] },
    );
  });

  it('toCacheKey answers 400 or a key that no number of further decodings turns into a traversal or a backslash', () => {
    fc.assert(
      fc.property(anyName, fc.boolean(), (raw, prefix) => {
        const r = acceptedOrRefused(() => toCacheKey(raw, { prefix }));
        if (r.accepted) expect(unsafeAfterDecoding(r.value)).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('a path decodePath accepts, or a cache key toCacheKey accepts, is a fixed point of decoding (decoding it again changes nothing)', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        for (const parse of [() => decodePath(raw, 'artifact path'), () => toCacheKey(raw)]) {
          const r = acceptedOrRefused(parse);
          if (r.accepted) expect(decodings(r.value)).toEqual([r.value]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('no name is accepted with a bidirectional control character in it', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        for (const parse of [() => decodePath(raw, 'artifact path'), () => toStorageKey(raw), () => toCacheKey(raw)]) {
          const r = acceptedOrRefused(parse);
          if (r.accepted) expect(BIDI_CHARS.filter((c) => r.value.includes(c))).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
