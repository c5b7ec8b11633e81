/**
 * Host parsing on any string, not only the latin-1 ones node can deliver. It failed on the code as
 * it was: the resolver lower-cased before it checked the alphabet, and U+212A KELVIN SIGN
 * lower-cases to an ASCII 'k' ('\u212Aabc.localhost:8080' -> label 'kabc'). Not reachable over
 * HTTP today (node reads header bytes as latin-1), but any other caller of resolve() (a proxy
 * header, a config value) would get an origin for a name that is not `<label>.<domain>`.
 */
import fc from 'fast-check';
import { createHostResolver } from '../../src/hosts';

const RUNS = 2000;

describe('Host header parsing on any unicode string', () => {
  const hosts = createHostResolver({ publicUrl: new URL('http://localhost:8080'), artifactDomain: 'localhost' });
  // characters whose lower case is ASCII, or that look like it
  const lookalike = fc.constantFrom('\u212a', '\u0130', '\u017f', '\u0131', '\u212b', '\uff41', 'K', 'k');
  const label = fc.array(fc.oneof(fc.constantFrom(...'abc019-'), lookalike), { minLength: 1, maxLength: 10 }).map((c) => c.join(''));

  it('maps a Host to an artifact origin only when it is exactly <label>.<ARTIFACT_DOMAIN>, in ASCII', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          label.map((l) => `${l}.localhost:8080`),
          fc.fullUnicodeString({ maxLength: 40 }),
        ),
        (header) => {
          const m = hosts.resolve(header);
          if (m.kind === 'artifact')
            expect(header.toLowerCase() === `${m.label}.localhost:8080` && /^[\x21-\x7e]+$/.test(header) ? 'exact' : header).toBe('exact');
        },
      ),
      { numRuns: RUNS },
    );
  });
});
