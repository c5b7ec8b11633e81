import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../support/app';

const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { name: string; version: string };
const API = { host: 'localhost:8080' };
// what Chromium and Firefox send for a page they navigate to
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('GET / on the API host', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp('fs');
  });
  afterAll(async () => t.cleanup());

  it('answers a script with JSON: the name, the version from package.json and links to the docs and health', async () => {
    const res = await request(t.callback).get('/').set(API).set('Accept', 'application/json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      name: pkg.name,
      version: pkg.version,
      description: expect.any(String),
      links: expect.arrayContaining([
        expect.objectContaining({ rel: 'api', href: '/openapi.yaml' }),
        expect.objectContaining({ rel: 'health', href: '/healthz' }),
        expect.objectContaining({ rel: 'client', href: '/client/artifact-gateway.cjs' }),
      ]),
    });
    expect(res.headers.vary).toMatch(/accept/i);
  });

  it('answers curl (Accept: */*) with JSON too', async () => {
    const res = await request(t.callback).get('/').set(API).set('Accept', '*/*');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
  });

  it('answers a browser with a page that links to the docs and /healthz, under the API host CSP', async () => {
    const res = await request(t.callback).get('/').set(API).set('Accept', BROWSER);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain(`<h1>${pkg.name} <small>${pkg.version}</small></h1>`);
    expect(res.text).toContain('<a href="/healthz">');
    expect(res.text).toContain('<a href="/openapi.yaml">');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves the OpenAPI description the page links to', async () => {
    const res = await request(t.callback).get('/openapi.yaml').set(API);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/yaml; charset=utf-8');
    expect(res.text).toBe(readFileSync(resolve(__dirname, '../../docs/openapi.yaml'), 'utf8'));
  });

  it('refuses other methods on / with 405 and Allow', async () => {
    const res = await request(t.callback).post('/').set(API);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toMatch(/GET/);
    expect(res.body.error.code).toBe('method_not_allowed');
  });

  it('leaves / on an artifact origin to the origin (no page about the gateway there)', async () => {
    const res = await request(t.callback).get('/').set({ host: 'nothing-here-aaaaaaaaaaaaaaaa.localhost:8080' }).set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain(pkg.version);
  });
});
