// Writes docs/configuration.md from the variable table (src/config/variables.ts).
// Run as `npm run docs:config`, which builds dist/ first; test/config-docs.test.ts fails while the file is stale.
const { writeFileSync } = require('node:fs');
const { resolve } = require('node:path');
const { configurationMarkdown } = require('../dist/config');

writeFileSync(resolve(__dirname, '../docs/configuration.md'), configurationMarkdown());
