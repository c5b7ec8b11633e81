/**
 * Properties of artifact listing on the API (pageSize, pageToken), on the fs and s3 drivers: any
 * query gives a page of this build's entries or a 400, never a 5xx; and paging with any valid
 * page size returns every entry exactly once, in order, on both drivers alike.
 */
import fc from 'fast-check';
import { headerValue } from './arbitraries';
import { API, startApp, type FuzzApp } from './http-support';

const RUNS = 150;
const PROJECT = 'acme/docs';
const LIST = `/api/v1/projects/${encodeURIComponent(PROJECT)}/builds/100/artifacts`;
const PATHS = ['a.txt', 'b/c.txt', 'b/d.txt', 'b/e/f.txt', 'g h.txt', 'é.txt', 'z.txt', 'zz/a.txt', '[x].json', 'a+b.txt', 'A.txt'];

describe('artifact listing on the fs and s3 drivers', () => {
  const apps: Partial<Record<'fs' | 's3', { app: FuzzApp; token: string }>> = {};
  const tokensSeen = new Set<string>();

  beforeAll(async () => {
    for (const driver of ['fs', 's3'] as const) {
      const app = await startApp(driver);
      apps[driver] = { app, token: await app.t.token({ project: PROJECT, build: '100', scope: 'artifacts:read artifacts:write' }) };
      for (const p of PATHS) await app.upload(PROJECT, '100', p, p);
      await app.upload(PROJECT, '101', 'other-build.txt', 'x');
    }
  });
  afterAll(async () => {
    await apps.fs?.app.close();
    await apps.s3?.app.close();
  });

  const list = async (driver: 'fs' | 's3', query: string) => {
    const { app, token } = apps[driver]!;
    const res = await app.get(API, `${LIST}${query}`, { authorization: `Bearer ${token}` });
    const body = res.status === 200 ? (res.json() as { items: Array<{ path: string }>; nextPageToken: string | null }) : undefined;
    if (body?.nextPageToken) tokensSeen.add(body.nextPageToken);
    return { status: res.status, body };
  };

  async function walk(driver: 'fs' | 's3', pageSize: number): Promise<string[]> {
    const out: string[] = [];
    let token: string | null = null;
    for (let i = 0; i < PATHS.length + 2; i++) {
      const { status, body } = await list(driver, `?pageSize=${pageSize}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
      expect(status).toBe(200);
      expect(body!.items.length).toBeLessThanOrEqual(pageSize);
      out.push(...body!.items.map((e) => e.path));
      token = body!.nextPageToken;
      if (!token) return out;
    }
    throw new Error(`paging with pageSize=${pageSize} on ${driver} did not end`);
  }

  it('paging with any valid page size returns every entry of the build exactly once, in order, on both drivers alike', async () => {
    const sorted = [...PATHS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 13 }), async (pageSize) => {
        const fs = await walk('fs', pageSize);
        const s3 = await walk('s3', pageSize);
        expect(fs).toEqual(sorted);
        expect(s3).toEqual(fs);
      }),
      { numRuns: 20 },
    );
  });

  it('any pageSize and pageToken give a page of this build (at most pageSize entries) or a 400, never a 5xx', async () => {
    const pageSize = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: -2, max: 1002 }).map(String) },
      { weight: 1, arbitrary: fc.constantFrom('', '0', '1.5', '1e3', '0x10', ' 5', 'NaN', 'Infinity', '99999999999999999999', '-0', '%00') },
    );
    // tokens the drivers handed out (either driver's, on either), mutated ones, and random ones
    const pageToken = fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...(tokensSeen.size ? [...tokensSeen] : ['x'])) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...(tokensSeen.size ? [...tokensSeen] : ['x'])), fc.nat(40), fc.constantFrom('', 'A', '/', '=', '%', '\u00e9', '..', '\u0000'))
          .map(([t, i, c]) => t.slice(0, i % (t.length + 1)) + c + t.slice((i % (t.length + 1)) + 1)),
      },
      { weight: 2, arbitrary: headerValue(60) },
      { weight: 1, arbitrary: fc.fullUnicodeString({ maxLength: 30 }) },
      { weight: 1, arbitrary: fc.constantFrom('a.txt', 'b/', '../101/', 'p/acme%2Fdocs/b/101/f/', '\\', 'x'.repeat(2049)) },
    );
    const answered = { pagesAfterAToken: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('fs' as const, 's3' as const),
        fc.option(pageSize, { nil: undefined }),
        fc.option(pageToken, { nil: undefined }),
        async (driver, size, token) => {
          const q = [
            size === undefined ? '' : `pageSize=${encodeURIComponent(size)}`,
            token === undefined ? '' : `pageToken=${encodeURIComponent(token.replace(/[\ud800-\udfff]/g, '?'))}`,
          ]
            .filter(Boolean)
            .join('&');
          const { status, body } = await list(driver, q ? `?${q}` : '');
          expect([200, 400]).toContain(status);
          if (status === 400) answered.refused++;
          if (body && token !== undefined) answered.pagesAfterAToken++;
          if (body) {
            const paths = body.items.map((e) => e.path);
            for (const p of paths) expect(PATHS).toContain(p);
            expect(new Set(paths).size).toBe(paths.length);
            const n = size === undefined ? 100 : Number(size);
            expect(paths.length).toBeLessThanOrEqual(n);
          }
        },
      ),
      { numRuns: RUNS },
    );
    // both answers must be common for the property to say anything
    expect(answered.pagesAfterAToken).toBeGreaterThan(RUNS / 30);
    expect(answered.refused).toBeGreaterThan(RUNS / 10);
  });
});
