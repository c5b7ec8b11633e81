/**
 * Properties of cache keys on the HTTP app (src/caches/routes.ts), on fs storage: random keys and
 * restore keys (traversal payloads, unicode, commas, every encoding) give 200, 204 or 400 on a
 * restore and 201, 400 or 409 on a save, never a 5xx; a restore finds only this project's entries
 * of the scopes the job may read, by the keys it was given; a save stores the key it was sent.
 */
import { maxHeaderSize } from 'node:http';
import fc from 'fast-check';
import { raw } from '../support/raw-http';
import { anyName, onTheWire, piece } from './arbitraries';
import { API, startApp, type FuzzApp } from './http-support';

const RUNS = 200;
const PROJECT = 'acme/web';
const BASE = `/api/v1/projects/${encodeURIComponent(PROJECT)}/caches`;
const TRUSTED = ['npm-linux-abc', 'npm-linux-abd', 'v1-deps-x', 'a/b/c', 'é-key'];

describe('cache keys on the HTTP app', () => {
  let app: FuzzApp;
  let trusted: string;
  let forked: string;

  const save = (token: string, rawKey: string, body: string) =>
    raw(app.port, {
      method: 'PUT',
      path: `${BASE}/${rawKey}`,
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });

  beforeAll(async () => {
    app = await startApp('fs');
    trusted = await app.t.token({ project: PROJECT, build: '1', branch: 'main', trusted: true });
    forked = await app.t.token({ project: PROJECT, build: '2', branch: 'pull/1', base_branch: 'main', trusted: false });
    const other = await app.t.token({ project: 'acme/other', build: '3', branch: 'main', trusted: true });
    for (const k of TRUSTED) expect((await save(trusted, encodeURIComponent(k), '')).status).toBe(201);
    // what a trusted job must never restore: a fork's entries, another project's
    for (const k of ['npm-linux-zzz', 'v1-deps-fork']) expect((await save(forked, encodeURIComponent(k), '')).status).toBe(201);
    for (const k of ['npm-linux-other', 'v1-deps-other']) {
      const res = await app.get(API, `/api/v1/projects/acme%2Fother/caches/${k}`, { authorization: `Bearer ${other}`, 'content-length': '0' }, 'PUT');
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => app?.close());

  const key = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.constantFrom(...TRUSTED, 'npm-linux-', 'npm-', 'v1-deps-', 'a/', 'a/b/', 'npm-linux-zzz', 'v1-deps-fork', 'npm-linux-other', 'e\u0301-key'),
    },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('npm-', 'v1-', 'a/', ''), piece).map(([a, b]) => a + b) },
    { weight: 2, arbitrary: anyName },
  );

  it("a restore with any keys gives 200, 204 or 400, and a hit is this project's, of a scope the job reads, and matches a key it was given", async () => {
    let hits = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(key, { minLength: 1, maxLength: 11 }), fc.boolean(), async (keys, encodeCommas) => {
        const list = keys.map((k) => encodeURIComponent(k.replace(/[\ud800-\udfff]/g, '?'))).join(encodeCommas ? '%2C' : ',');
        const res = await app.get(API, `${BASE}?keys=${list}`, { authorization: `Bearer ${trusted}` });
        // ten keys at the length limit can make a request head longer than node accepts
        const head = BASE.length + list.length + trusted.length;
        if (head > maxHeaderSize) expect([400, 431]).toContain(res.status);
        if (res.status === 431) {
          expect(head).toBeGreaterThan(maxHeaderSize - 512);
          expect(res.json()).toMatchObject({ error: { code: 'request_header_fields_too_large' } });
          return;
        }
        expect([200, 204, 400]).toContain(res.status);
        if (res.status !== 200) return;
        hits++;
        const hit = res.json() as { key: string; scope: string; exact: boolean };
        expect(TRUSTED).toContain(hit.key);
        expect(hit.scope).toBe('branch:main');
        const given = keys.map((k) => k.replace(/[\ud800-\udfff]/g, '?').normalize('NFC'));
        if (hit.exact) expect(hit.key).toBe(given[0]);
        else expect(given.some((g) => hit.key.startsWith(g))).toBe(true);
      }),
      { numRuns: RUNS },
    );
    expect(hits).toBeGreaterThan(RUNS / 50);
  });

  it("a fork's restore never sees another project's entries, and a save with any key path gives 201, 400 or 409 and stores the key it was sent", async () => {
    await fc.assert(
      fc.asyncProperty(key, fc.boolean(), async (k, raw) => {
        const path = raw ? onTheWire(k).replace(/[?#]/g, encodeURIComponent) : encodeURIComponent(k.replace(/[\ud800-\udfff]/g, '?'));
        const res = await save(forked, path, 'x');
        expect(res.status).toBeLessThan(500);
        if (k !== '') expect([201, 400, 409]).toContain(res.status);
        if (res.status === 201) {
          const sent = decodeURIComponent(path).normalize('NFC');
          expect((res.json() as { key: string }).key).toBe(sent);
          const back = await app.get(API, `${BASE}?keys=${encodeURIComponent(sent)}`, { authorization: `Bearer ${forked}` });
          expect(back.status).toBe(200);
          expect(back.json()).toMatchObject({ key: sent, scope: 'untrusted:pull/1', exact: true });
        }
        const lookup = await app.get(API, `${BASE}?keys=npm-,v1-deps-`, { authorization: `Bearer ${forked}` });
        if (lookup.status === 200) expect((lookup.json() as { createdBy: { project: string } }).createdBy.project).toBe(PROJECT);
      }),
      { numRuns: RUNS / 2 },
    );
  });
});
