import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const readme = readFileSync(resolve(__dirname, '../README.md'), 'utf8');
const ciRun = readFileSync(resolve(__dirname, '../.ci/run'), 'utf8');

describe('README', () => {
  it('gives the test command that CI runs', () => {
    expect(readme).toMatch(/^npm test\b/m);
    expect(ciRun).toMatch(/^npm test$/m);
  });
});
