/**
 * Properties of request paths on the HTTP app, on fs storage with a stored artifact set: random
 * paths, sent byte for byte (traversal payloads in every encoding, overlong UTF-8, backslashes,
 * control and bidi characters, the storage layout's own names), never get a 5xx, and never a body
 * from another project or from outside the build the URL names, on an artifact origin or through
 * the API's download redirect.
 */
import fc from 'fast-check';
import { originLabel } from '../../src/artifacts/labels';
import { onTheWire, piece } from './arbitraries';
import { API, startApp, type FuzzApp } from './http-support';

const RUNS = 300;

/** Every stored file's body is a marker naming its project, build and path. */
const STORED: Array<{ project: string; build: string; path: string }> = [
  ...['index.html', 'r/a.html', 'r/sub/b.html', 'r/sp ace.html', 'r/é.html', 'r/..a.html', 'r/a.png', 'r/data.json'].map((path) => ({
    project: 'acme/web',
    build: '100',
    path,
  })),
  ...['zq101.html', 'r/a.html', 'r/zq101/c.html'].map((path) => ({ project: 'acme/web', build: '101', path })),
  ...['index.html', 'r/a.html', 'zqother.html'].map((path) => ({ project: 'acme/other', build: '100', path })),
  ...['r/a.html', 'index.html', 'zqprivate.html'].map((path) => ({ project: 'acme/private', build: '100', path })),
];
const marker = (f: { project: string; build: string; path: string }) => `MARK[${f.project}|${f.build}|${f.path}]`;
const SIGNING_SECRET = 'test-signing-secret-that-is-long-enough-0123456789';

/**
 * What no answer about project `project`, build `build` may contain: the markers of every other
 * file, and the names that only other builds and projects have (which a listing would show). No
 * generated request holds 'MARK[' or 'zq', so an error message that echoes the request cannot
 * trip this.
 */
function forbidden(project: string, build: string | undefined): string[] {
  return [
    ...STORED.filter((f) => f.project !== project || f.build !== build).map(marker),
    ...(project === 'acme/web' && build === '101' ? [] : ['zq101']),
    'zqother',
    'zqprivate',
    SIGNING_SECRET,
  ];
}

/** Names of the stored files and of the storage layout (p/<project>/b/<build>/f/…, labels/…), for traversals to aim at. */
const TARGETS = [
  'r',
  'a.html',
  'sub',
  'b.html',
  'index.html',
  'c.html',
  '100',
  '101',
  'p',
  'b',
  'f',
  'o',
  'labels',
  'acme%2Fother',
  'acme%252Fother',
  'acme',
  'other',
  'private',
  '.signing-secret',
  'artifacts',
  'cache',
  'data',
];
const segment = fc.oneof(
  { weight: 3, arbitrary: piece },
  { weight: 3, arbitrary: fc.constantFrom(...TARGETS) },
  { weight: 2, arbitrary: fc.constantFrom('..', '%2e%2e', '%252e%252e', '.%2e', '..%2f', '..%5c', '%c0%ae%c0%ae') },
);
const randomRest = fc
  .array(segment, { maxLength: 10 })
  .chain((segs) =>
    fc
      .array(fc.constantFrom('/', '/', '/', '', '%2f', '\\', '//'), { minLength: segs.length, maxLength: segs.length })
      .map((seps) => segs.map((s, i) => s + seps[i]).join('')),
  );
const storedPath = fc.constantFrom(
  ...STORED.filter((f) => f.project === 'acme/web' && f.build === '100').map((f) => f.path.split('/').map(encodeURIComponent).join('/')),
);
/** The part after the build: random, or a stored file's path with random pieces around it. */
const rest = fc
  .oneof(
    { weight: 3, arbitrary: randomRest },
    { weight: 1, arbitrary: storedPath },
    { weight: 1, arbitrary: fc.tuple(randomRest, storedPath, randomRest).map(([a, b, c]) => a + b + c) },
  )
  .filter((s) => !/zq|MARK\[/i.test(s));
const buildSegment = fc.oneof(
  { weight: 6, arbitrary: fc.constant('100') },
  { weight: 1, arbitrary: fc.constantFrom('101', '%31%30%30', '100%2f..', '..', '%2e%2e', '', '100.', '1%00') },
  { weight: 1, arbitrary: piece },
);
const query = fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('?x=1', '?', '?%2e%2e', '?path=../../', '#frag') });

function decodeOrUndefined(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

describe('random request paths on fs storage with a stored artifact set', () => {
  let app: FuzzApp;
  let token: string;
  const web = `${originLabel('acme/web')}.localhost:8080`;
  const priv = `${originLabel('acme/private')}.localhost:8080`;

  beforeAll(async () => {
    app = await startApp('fs', { PUBLIC_PROJECTS: 'acme/web,acme/other' });
    for (const f of STORED) await app.upload(f.project, f.build, f.path, marker(f));
    token = await app.t.token({ project: 'acme/web', build: '100', scope: 'artifacts:read' });
  });
  afterAll(async () => app?.close());

  /** The answer, and the body of the blob URL a 302 to this gateway's own storage points at. */
  async function bodies(host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; texts: string[] }> {
    const res = await app.get(host, path, headers);
    const texts = [res.text, res.headers.location ?? ''];
    const location = res.headers.location;
    if (res.status === 302 && location?.startsWith('http://localhost:8080/')) {
      const blob = await app.get(API, location.slice('http://localhost:8080'.length));
      expect(blob.status).toBeLessThan(500);
      texts.push(blob.text);
    }
    return { status: res.status, texts };
  }

  it("on a public project's origin: never a 5xx, never a body from another project or another build", async () => {
    let found = 0;
    await fc.assert(
      fc.asyncProperty(buildSegment, rest, query, fc.boolean(), async (build, tail, q, subresource) => {
        const path = onTheWire(`/${build}/${tail}`) + q;
        const headers: Record<string, string> = subresource ? { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' } : {};
        const { status, texts } = await bodies(web, path, headers);
        expect(status).toBeLessThan(500);
        if (status === 200) found++;
        const requested = decodeOrUndefined(build);
        for (const text of texts) for (const f of forbidden('acme/web', requested)) expect(text).not.toContain(f);
      }),
      { numRuns: RUNS },
    );
    // the generator must reach stored files for the property to say anything
    expect(found).toBeGreaterThan(RUNS / 50);
  });

  it("on a private project's origin without a session: never a 5xx, never a byte of the project", async () => {
    await fc.assert(
      fc.asyncProperty(buildSegment, rest, query, async (build, tail, q) => {
        const res = await app.get(priv, onTheWire(`/${build}/${tail}`) + q);
        expect([400, 401, 404]).toContain(res.status);
        expect(res.text).not.toContain('MARK[');
      }),
      { numRuns: RUNS / 4 },
    );
  });

  it('through the API download redirect: never a 5xx, never a file of another project or another build', async () => {
    let found = 0;
    await fc.assert(
      fc.asyncProperty(rest, query, async (tail, q) => {
        const path = onTheWire(`/api/v1/projects/acme%2Fweb/builds/100/artifacts/${tail}`) + q;
        const { status, texts } = await bodies(API, path, { authorization: `Bearer ${token}` });
        expect(status).toBeLessThan(500);
        if (status === 302) found++;
        for (const text of texts) for (const f of forbidden('acme/web', '100')) expect(text).not.toContain(f);
      }),
      { numRuns: RUNS / 2 },
    );
    expect(found).toBeGreaterThan(0);
  });
});
