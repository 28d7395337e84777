#!/usr/bin/env bash
# Runs `npm ci` (which builds through `prepare`) unless node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.tsbuild-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f dist/bundle/main.js ]; then
  npm run --silent build
else
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
