#!/usr/bin/env bash
# The whole test suite: installs what it needs, runs vitest, and ends with `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/ensure-node-modules.sh
mkdir -p .tsbuild-test
report=.tsbuild-test/vitest-report.json
rm -f "$report"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
set -e
node scripts/test-summary.js "$report" "$status"
