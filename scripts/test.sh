#!/usr/bin/env bash
# The one test command (`npm test`): installs what the tests need, type-checks and builds, then
# runs every suite. jest's global setup starts a real Ceph radosgw and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npx tsc -p tsconfig.json --noEmit   # type-checks src and test; jest's global setup builds dist
npm run --silent format:check      # Prettier: one format, checked, never argued about
npm run --silent lint              # typescript-eslint's type-aware rules (eslint.config.mjs)

mkdir -p test-results
status=0
npx jest --ci --json --outputFile=test-results/jest.json "$@" || status=$?
# one plain closing line that any CI reads the same way
node -e '
  const r = require("./test-results/jest.json");
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
