import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configurationMarkdown, helpLines, VARIABLES } from '../src/config';
import { SERVE_HELP } from '../src/cli/serve';

const names = Object.keys(VARIABLES);

describe('the configuration documentation', () => {
  it('docs/configuration.md is what `npm run docs:config` makes from the variable table (run it after changing the table)', () => {
    expect(readFileSync(resolve(__dirname, '../docs/configuration.md'), 'utf8')).toBe(configurationMarkdown());
  });

  it.each(names)('documents %s with its default in docs/configuration.md and in serve --help', (name) => {
    expect(configurationMarkdown()).toMatch(new RegExp(`^\\| \`${name}\` \\| [^|]+ \\|`, 'm'));
    expect(SERVE_HELP).toMatch(new RegExp(`^  ${name} +\\S.*\\(default: `, 'm'));
  });

  it('prints one line per variable in serve --help', () => {
    expect(helpLines().split('\n')).toHaveLength(names.length);
  });
});
