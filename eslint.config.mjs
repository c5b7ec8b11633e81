// `npm run lint`, run by `npm test`: typescript-eslint's type-aware recommended rules over the
// whole tree. Formatting is Prettier's (`.prettierrc.json`, `npm run format`), not eslint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'coverage/',
      'test-results/',
      'bench/results/',
      'reliability/results/',
      '.edge/',
      'certs/out/',
      'test/protocols/fixtures/',
      // the runner client bundle (scripts/build-client.mjs), copied for npm pack
      'packages/client/artifact-gateway.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // an async function keeps its contract a Promise even where it has nothing to await: a
      // synchronous throw from a function callers treat as async would escape their .catch()
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // node's APIs take listeners whose promise they ignore (createServer(app.callback()),
      // socket.on(...)); Koa and our handlers catch their own errors
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // control characters are exactly what the input checks (names, keys, hosts) look for
      'no-control-regex': 'off',
      // options objects carry callbacks (onBytes, onRetry) in method syntax; handing them on is the point
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // supertest's `res.body` and JSON.parse are `any` by design: tests read them to assert on them
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // page.evaluate() bodies and OpenAPI documents walked generically
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // the GitHub Actions (actions/): CommonJS run by the runner's node, with no package installed
    files: ['actions/**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: Object.fromEntries(
        ['require', 'module', 'process', 'Buffer', 'URL', 'fetch', 'AbortSignal', 'setTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
