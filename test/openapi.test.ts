/**
 * docs/openapi.yaml against the code, both ways: every route the API host's router holds is
 * described, and every described operation is served. The route list is the router's own stack
 * (apiRoutes in src/app.ts), and the blob URLs' methods are asked of the fs driver's blob route,
 * so a route added without its description, or a description left behind, fails here. That real
 * answers match the description is checked by the API suites themselves (test/support/openapi.ts).
 */
import { validate } from '@readme/openapi-parser';
import request from 'supertest';
import { apiRoutes } from '../src/app';
import { ArtifactStore } from '../src/artifacts/store';
import { CacheStore } from '../src/caches/store';
import { createHostResolver } from '../src/hosts';
import { readAbout } from '../src/http/home';
import { createMetrics } from '../src/http/metrics';
import { makeTestApp, type TestApp } from './support/app';
import { HTTP_METHODS, spec, SPEC_FILE, validatorAt } from './support/openapi';

const API = { host: 'localhost:8080' };
const BLOB_PATH = '/_blob/{bucket}/{key}';

/** A concrete path for a template: each parameter replaced by its first example, or `x`. */
function samplePath(template: string, item: Record<string, any>, op: Record<string, any>): string {
  const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref);
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const p = params.find((q) => q.name === name && q.in === 'path');
    return p?.schema?.examples?.[0] ?? 'x';
  });
}

function deref(node: Record<string, any>): Record<string, any> {
  if (typeof node.$ref !== 'string') return node;
  return node.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce((o: Record<string, any>, k: string) => o[k], spec);
}

const described = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([template, item]) =>
  HTTP_METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), template, sample: samplePath(template, item, item[m]) })),
);

describe('docs/openapi.yaml', () => {
  let t: TestApp;
  let layers: Array<{ path: string | RegExp; methods: string[]; match(path: string): boolean }>;

  beforeAll(async () => {
    t = await makeTestApp('fs');
    const { config, storage } = t.harness;
    const router = apiRoutes(
      { config, storage, auth: t.auth },
      {
        artifacts: new ArtifactStore(storage, config.isolation, Date.now),
        caches: new CacheStore(storage, Date.now),
        hosts: createHostResolver(config),
        metrics: createMetrics(),
        lifecycle: { draining: false },
        audit: t.log.logger,
      },
    );
    layers = router.stack.filter((l) => l.methods.length > 0);
  });
  afterAll(async () => t.cleanup());

  it('is a valid OpenAPI 3.1 document, of the version package.json names', async () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    expect(spec.info.version).toBe(readAbout().version);
    const result = await validate(SPEC_FILE);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('has schemas that compile under ajv in strict mode (a misspelt keyword or type fails here)', () => {
    for (const name of Object.keys(spec.components.schemas)) {
      expect(() => validatorAt(['components', 'schemas', name])).not.toThrow();
    }
  });

  it('describes every route of the API host, method by method', () => {
    const missing: string[] = [];
    for (const layer of layers) {
      // the router answers HEAD wherever it answers GET; the description's GET covers both
      const methods = layer.methods.filter((m) => m !== 'HEAD' || !layer.methods.includes('GET'));
      for (const method of methods) {
        if (!described.some((d) => d.method === method && layer.match(d.sample))) missing.push(`${method} ${layer.path}`);
      }
    }
    expect(missing).toEqual([]);
    expect(layers.length).toBeGreaterThanOrEqual(12);
  });

  it('describes only operations the API host serves', () => {
    const stale = described
      .filter((d) => d.template !== BLOB_PATH)
      .filter((d) => !layers.some((l) => l.methods.includes(d.method) && l.match(d.sample)))
      .map((d) => `${d.method} ${d.template}`);
    expect(stale).toEqual([]);
  });

  it("describes exactly the methods the fs driver's blob URLs answer", async () => {
    const blobMethods = described.filter((d) => d.template === BLOB_PATH).map((d) => d.method);
    for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await request(t.callback)[method.toLowerCase() as 'get'](`/_blob/artifacts/x`).set(API);
      // an unsigned request reaches the route and is refused (403), or the method is (405)
      if (blobMethods.includes(method)) expect([method, res.status]).toEqual([method, 403]);
      else expect([method, res.status]).toEqual([method, 405]);
    }
  });
});
