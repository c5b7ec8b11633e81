/**
 * Properties of Host header parsing (src/hosts.ts): every artifact origin is a security boundary,
 * so a Host maps to an origin label only when it is exactly `<label>.<ARTIFACT_DOMAIN>` on the
 * right port, and nothing a client sends makes the resolver throw.
 */
import fc from 'fast-check';
import { createHostResolver, LABEL, type HostMatch } from '../../src/hosts';

const RUNS = 2000;

const SETUPS = [
  { name: 'the embedded default', publicUrl: new URL('http://localhost:8080'), artifactDomain: 'localhost', ports: [':8080'] },
  { name: 'a production set-up', publicUrl: new URL('https://artifacts.example.com'), artifactDomain: 'example-artifacts.net', ports: ['', ':443'] },
];

const validLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/);
const mixedCase = (a: fc.Arbitrary<string>) =>
  fc.tuple(a, fc.array(fc.boolean(), { maxLength: 80 })).map(([s, up]) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));

/** Latin-1 only: node decodes header bytes as latin-1, so no other character reaches the resolver over HTTP. */
const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((n) => String.fromCharCode(n)), maxLength: 80 });

/** Usually one of `usual`, sometimes one of `others`: near misses of a valid form. */
function mostly(usual: string | string[], others: string[]): fc.Arbitrary<string> {
  const u = typeof usual === 'string' ? [usual] : usual;
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...u) }, { weight: 1, arbitrary: fc.constantFrom(...others) });
}

function hostHeaders(domain: string, apiHost: string, validPorts: string[]): fc.Arbitrary<string> {
  const labelish = fc.oneof(
    { weight: 4, arbitrary: validLabel },
    { weight: 1, arbitrary: mixedCase(validLabel) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abz09-_.*%@[]: \t'.split('')), maxLength: 70 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '-a', 'a-', 'a'.repeat(64), 'xn--bcher-kva', 'a.b', '*', '127.0.0.1', '[::1]', 'user@a', 'a\u0000') },
  );
  const domainish = mostly(domain, [
    `${domain}.`,
    `evil${domain}`,
    `${domain}.evil`,
    domain.toUpperCase(),
    `.${domain}`,
    `${domain}..`,
    domain.replace(/o/, '0'),
    apiHost,
  ]);
  const port = mostly(validPorts, [':8080', ':443', ':80', ':08080', ':0443', ':', ':99999', ':8080:8080', ':+80', ': 80', ':8080 ', '::8080']);
  const around = mostly([''], [' ', '\t', 'http://', 'a@', '.', '/']);
  const built = fc
    .tuple(around, labelish, mostly(['.'], ['..', '', '%2e', '。']), domainish, port, around)
    .map(([pre, label, dot, dom, p, post]) => `${pre}${label}${dot}${dom}${p}${post}`);
  return fc.oneof(
    { weight: 6, arbitrary: built },
    { weight: 1, arbitrary: fc.tuple(mixedCase(fc.constant(apiHost)), port).map(([h, p]) => h + p) },
    { weight: 2, arbitrary: latin1 },
    { weight: 1, arbitrary: fc.constantFrom('127.0.0.1:8080', '[::1]:8080', '[::1]', '0x7f.1:8080', 'localhost', 'localhost.:8080') },
  );
}

function expectKnownKind(m: HostMatch): void {
  expect(['api', 'artifact', 'unknown']).toContain(m.kind);
  if (m.kind === 'unknown') expect(typeof m.reason).toBe('string');
}

describe.each(SETUPS)('Host header parsing in $name', ({ publicUrl, artifactDomain, ports }) => {
  const hosts = createHostResolver({ publicUrl, artifactDomain });
  const apiHost = publicUrl.hostname;
  const exactForms = (name: string) => ports.map((p) => `${name}${p}`);

  it('never throws, and answers api, artifact or unknown', () => {
    fc.assert(
      fc.property(
        fc.oneof(hostHeaders(artifactDomain, apiHost, ports), fc.fullUnicodeString({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })),
        (header) => {
          expectKnownKind(hosts.resolve(header));
        },
      ),
      { numRuns: RUNS },
    );
    expectKnownKind(hosts.resolve(undefined));
  });

  it('maps a Host to an artifact origin only when it is exactly <label>.<ARTIFACT_DOMAIN> on the right port', () => {
    const kinds = { api: 0, artifact: 0, unknown: 0 };
    fc.assert(
      fc.property(fc.oneof(hostHeaders(artifactDomain, apiHost, ports), latin1), (header) => {
        const m = hosts.resolve(header);
        kinds[m.kind]++;
        if (m.kind === 'artifact') {
          expect(m.label).toMatch(LABEL);
          expect(/^[\x21-\x7e]+$/.test(header)).toBe(true);
          expect(exactForms(`${m.label}.${artifactDomain}`)).toContain(header.toLowerCase());
        }
        if (m.kind === 'api') expect(exactForms(apiHost)).toContain(header.toLowerCase());
      }),
      { numRuns: RUNS },
    );
    // the generator must reach all three answers for the property to say anything
    expect(kinds.artifact).toBeGreaterThan(RUNS / 40);
    expect(kinds.unknown).toBeGreaterThan(RUNS / 20);
    expect(kinds.api).toBeGreaterThan(0);
  });

  it('maps every exact <label>.<ARTIFACT_DOMAIN> form, in any letter case, to that label', () => {
    fc.assert(
      fc.property(validLabel, fc.constantFrom(...ports), fc.boolean(), (label, port, upper) => {
        const name = `${label}.${artifactDomain}`;
        const header = `${upper ? name.toUpperCase() : name}${port}`;
        expect(hosts.resolve(header)).toEqual({ kind: 'artifact', label });
      }),
      { numRuns: RUNS / 4 },
    );
  });
});
