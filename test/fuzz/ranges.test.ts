/**
 * Properties of Range and If-Range handling on artifact origins (src/artifacts/origin.ts, with
 * range-parser), on files stored through the API on both drivers: any Range header gives the
 * whole file (200), exactly the bytes a correct Content-Range names (206), or 416; never a 5xx.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { originLabel } from '../../src/artifacts/labels';
import type { RawResponse } from '../support/raw-http';
import { headerValue } from './arbitraries';
import { startApp, type FuzzApp } from './http-support';

const RUNS = 250;
const PROJECT = 'acme/docs';
const HOST = `${originLabel(PROJECT)}.localhost:8080`;

/** Files of a few sizes, every byte position distinguishable (HTML: streamed by the origin itself). */
const FILES = new Map<string, Buffer>(
  [0, 1, 2, 1000].map((size) => [
    `r/f${size}.html`,
    Buffer.from(Array.from({ length: size }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(i * 7 + Math.floor(i / 36)) % 36]).join('')),
  ]),
);
const etagOf = (b: Buffer) => `"${createHash('sha256').update(b).digest('hex')}"`;

const number = fc.oneof(
  { weight: 6, arbitrary: fc.nat(1010).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '0',
      '00',
      '007',
      '999999999999999999999',
      '9007199254740993',
      '-1',
      '+1',
      '1e3',
      '0x10',
      ' 5',
      '5 ',
      '1.5',
      '',
      'NaN',
      '\u00b9',
    ),
  },
);
const spec = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(number, number).map(([a, b]) => `${a}-${b}`) },
  { weight: 2, arbitrary: number.map((a) => `${a}-`) },
  { weight: 2, arbitrary: number.map((b) => `-${b}`) },
  { weight: 1, arbitrary: fc.constantFrom('-', '--1', '1--2', '1-2-3', '', ' ', '=', 'a-b') },
);
const rangeHeader = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 8, arbitrary: fc.constant('bytes') },
          { weight: 1, arbitrary: fc.constantFrom('Bytes', 'BYTES', 'bytes ', ' bytes', 'items', 'none', '') },
        ),
        fc.oneof({ weight: 8, arbitrary: fc.constant('=') }, { weight: 1, arbitrary: fc.constantFrom(' = ', ':', '==') }),
        fc.oneof(
          { weight: 3, arbitrary: fc.array(spec, { minLength: 1, maxLength: 1 }) },
          { weight: 1, arbitrary: fc.array(spec, { minLength: 2, maxLength: 4 }) },
        ),
        fc.constantFrom(',', ',', ', ', ',,', ' ,'),
      )
      .map(([unit, eq, specs, sep]) => `${unit}${eq}${specs.join(sep)}`),
  },
  { weight: 1, arbitrary: headerValue(40) },
);

function checkAnswer(res: RawResponse, file: Buffer, method: string, range: string | undefined): void {
  expect([200, 206, 416]).toContain(res.status);
  const body = method === 'HEAD' ? undefined : res.body;
  if (res.status === 200) {
    expect(res.headers['content-range']).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBe(file.length);
    if (body) expect(body.equals(file)).toBe(true);
  }
  if (res.status === 206) {
    expect(range).toBeDefined();
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers['content-range'] ?? '');
    expect(m).not.toBeNull();
    const [start, end, total] = [Number(m![1]), Number(m![2]), Number(m![3])];
    expect(total).toBe(file.length);
    expect(start).toBeLessThanOrEqual(end);
    expect(end).toBeLessThan(file.length);
    expect(Number(res.headers['content-length'])).toBe(end - start + 1);
    if (body) expect(body.equals(file.subarray(start, end + 1))).toBe(true);
  }
  if (res.status === 416) {
    expect(range).toBeDefined();
    expect(res.headers['content-range']).toBe(`bytes */${file.length}`);
  }
}

describe('Range requests on an artifact origin, on files stored on the fs and s3 drivers', () => {
  const apps: Record<'fs' | 's3', FuzzApp | undefined> = { fs: undefined, s3: undefined };

  beforeAll(async () => {
    for (const driver of ['fs', 's3'] as const) {
      const app = await startApp(driver, { PUBLIC_PROJECTS: PROJECT });
      apps[driver] = app;
      for (const [path, body] of FILES) await app.upload(PROJECT, '7', path, body);
    }
  });
  afterAll(async () => {
    await apps.fs?.close();
    await apps.s3?.close();
  });

  const request = fc.record({
    path: fc.constantFrom(...FILES.keys(), 'r/f1000.html', 'r/f1000.html'),
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
    range: fc.oneof({ weight: 8, arbitrary: rangeHeader }, { weight: 1, arbitrary: fc.constant(null) }),
    ifRange: fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      { weight: 2, arbitrary: fc.constant('match') },
      { weight: 2, arbitrary: fc.constantFrom('"0000"', 'W/match', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 2999 23:59:59 GMT', 'garbage', '*', '') },
    ),
  });
  const send = (app: FuzzApp, r: { path: string; method: string; range: string | null; ifRange: string | null }) => {
    const file = FILES.get(r.path)!;
    const headers: Record<string, string> = {};
    if (r.range !== null) headers.range = r.range;
    if (r.ifRange !== null) headers['if-range'] = r.ifRange.replace('match', etagOf(file));
    return app.get(HOST, `/7/${r.path}`, headers, r.method);
  };

  it.each(['fs', 's3'] as const)('on %s: any Range and If-Range give the whole file, exactly the bytes of a correct Content-Range, or 416', async (driver) => {
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const res = await send(apps[driver]!, r);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        checkAnswer(res, FILES.get(r.path)!, r.method, r.range ?? undefined);
      }),
      { numRuns: RUNS },
    );
    // the generator must reach all three answers for the property to say anything
    expect(statuses[206]).toBeGreaterThan(RUNS / 25);
    expect(statuses[200]).toBeGreaterThan(RUNS / 25);
    expect(statuses[416]).toBeGreaterThan(RUNS / 100);
  });

  it("a single satisfiable range bytes=a-b, with no If-Range or the file's own ETag, gives exactly bytes a..min(b, size-1)", async () => {
    const file = FILES.get('r/f1000.html')!;
    await fc.assert(
      fc.asyncProperty(fc.nat(999), fc.nat(1100), fc.boolean(), async (a, len, withIfRange) => {
        const b = a + len;
        const headers: Record<string, string> = { range: `bytes=${a}-${b}` };
        if (withIfRange) headers['if-range'] = etagOf(file);
        const res = await apps.fs!.get(HOST, '/7/r/f1000.html', headers);
        expect(res.status).toBe(206);
        const end = Math.min(b, file.length - 1);
        expect(res.headers['content-range']).toBe(`bytes ${a}-${end}/${file.length}`);
        expect(res.body.equals(file.subarray(a, end + 1))).toBe(true);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('the fs and s3 drivers give the same answer to the same request', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const [fs, s3] = [await send(apps.fs!, r), await send(apps.s3!, r)];
        // error bodies carry each app's own request id: compare what the client acts on
        const seen = (res: RawResponse) => ({
          status: res.status,
          range: res.headers['content-range'],
          body: res.status < 300 ? res.body.toString('latin1') : '',
        });
        expect(seen(s3)).toEqual(seen(fs));
      }),
      { numRuns: RUNS / 2 },
    );
  });
});
