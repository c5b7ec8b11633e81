import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_VARIABLES } from '../src/config';

const readme = readFileSync(resolve(__dirname, '../README.md'), 'utf8');
const ciRun = readFileSync(resolve(__dirname, '../.ci/run'), 'utf8');

describe('README', () => {
  it.each(CONFIG_VARIABLES.flatMap((v) => v.name.split(' / ')))('documents the variable %s in the configuration table', (name) => {
    expect(readme).toMatch(new RegExp(`^\\| [^|]*\`${name}\``, 'm'));
  });

  it('gives the test command that CI runs', () => {
    expect(readme).toMatch(/^npm test\b/m);
    expect(ciRun).toMatch(/^npm test$/m);
  });
});
