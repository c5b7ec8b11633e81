/**
 * The other real reports, each written by its own tool from a small fixture in a child process:
 * Vitest's HTML report (@vitest/ui), a Jest HTML report (jest-html-reporters), istanbul HTML
 * coverage (c8), and newman's htmlextra report, which loads its CSS, scripts and fonts from
 * public CDNs. Imports nothing from jest (see fixture.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { withFixture, runNode, packageFile } from './fixture';

/** The test titles the Vitest, Jest and newman reports list, for a test to look for. */
export const UNIT_TESTS = ['adds prices', 'applies a discount', 'rejects a negative price'];

const PRICES = `
function total(prices, discount = 0) {
  let sum = 0;
  for (const p of prices) {
    if (p < 0) throw new Error('negative price');
    sum += p;
  }
  if (discount > 0) return sum - (sum * discount) / 100;
  return sum;
}
function unused(x) {
  return x > 1 ? 'many' : 'one';
}
module.exports = { total, unused };
`;

function unitSpec(importLine: string): string {
  return `${importLine}
const { total } = require('./prices.cjs');
describe('prices', () => {
  it(${JSON.stringify(UNIT_TESTS[0])}, () => { expect(total([3, 5])).toBe(8); });
  it(${JSON.stringify(UNIT_TESTS[1])}, () => { expect(total([10, 10], 50)).toBe(10); });
  it(${JSON.stringify(UNIT_TESTS[2])}, () => { expect(() => total([-1])).toThrow('negative price'); });
});
`;
}

/** Vitest's HTML report (index.html, assets/, html.meta.json.gz) in outDir. */
export async function makeVitestReport(outDir: string): Promise<void> {
  const files = {
    'package.json': '{ "type": "module" }',
    'prices.cjs': PRICES,
    'prices.test.js': unitSpec(
      `import { describe, it, expect } from 'vitest';\nimport { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);`,
    ),
    'vitest.config.js': `export default { test: { include: ['*.test.js'], reporters: ['html'], outputFile: { html: process.env.VT_REPORT + '/index.html' } } };`,
  };
  await withFixture('vitest-report', files, async (dir) => {
    await runNode([packageFile('vitest', 'vitest.mjs'), 'run'], dir, { VT_REPORT: outDir });
  });
}

/** A Jest HTML report (jest-html-reporters: index.html and its attach folder) in outDir. */
export async function makeJestReport(outDir: string): Promise<void> {
  const files = {
    'prices.cjs': PRICES,
    'prices.test.js': unitSpec(''),
    'jest.config.js': `module.exports = {
  rootDir: __dirname, testMatch: ['<rootDir>/*.test.js'], cacheDirectory: __dirname + '/.cache',
  reporters: ['default', ['jest-html-reporters', { publicPath: process.env.JEST_REPORT, filename: 'index.html', pageTitle: 'Unit tests' }]],
};`,
  };
  await withFixture('jest-report', files, async (dir) => {
    await runNode([packageFile('jest', 'bin/jest.js'), '--config', 'jest.config.js', '--ci', '--watchman=false'], dir, { JEST_REPORT: outDir });
  });
}

/** istanbul's HTML coverage report, written by c8 from V8 coverage of a small program, in outDir. */
export async function makeCoverageReport(outDir: string): Promise<void> {
  const files = {
    'prices.cjs': PRICES,
    'main.cjs': `const { total } = require('./prices.cjs');\nconsole.log(total([3, 5], 10));\n`,
  };
  await withFixture('c8-report', files, async (dir) => {
    await runNode(
      [
        packageFile('c8', 'bin/c8.js'),
        '--reporter=html',
        `--reports-dir=${outDir}`,
        `--temp-directory=${dir}/v8`,
        '--all',
        '--include=*.cjs',
        process.execPath,
        'main.cjs',
      ],
      dir,
    );
  });
}

/** newman's htmlextra report of a small collection run against a loopback HTTP server, as outDir/index.html. */
export async function makeNewmanReport(outDir: string): Promise<void> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ path: req.url, items: [{ name: 'apples', price: 3 }] });
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const request = (name: string, path: string, test: string) => ({
    name,
    request: { method: 'GET', url: `${base}${path}` },
    event: [{ listen: 'test', script: { exec: [`pm.test(${JSON.stringify(name)}, function () { ${test} });`] } }],
  });
  const collection = {
    info: { name: 'Shop API', schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json' },
    item: [
      request(UNIT_TESTS[0], '/items', 'pm.response.to.have.status(200);'),
      request(UNIT_TESTS[1], '/discount', 'pm.expect(pm.response.json().items[0].price).to.eql(3);'),
      request(UNIT_TESTS[2], '/missing', 'pm.response.to.have.status(404);'),
    ],
  };
  try {
    await withFixture('newman-report', { 'collection.json': JSON.stringify(collection) }, async (dir) => {
      await runNode(
        [packageFile('newman', 'bin/newman.js'), 'run', 'collection.json', '--reporters', 'htmlextra', '--reporter-htmlextra-export', `${outDir}/index.html`],
        dir,
      );
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}
