#!/usr/bin/env bash
# Installs tests/browser's node modules (playwright-core only) from package-lock.json with `npm ci`,
# unless the installed ones already match the lock file (so that the browser tests run offline once
# installed). The browser itself is Debian's /usr/bin/chromium (scripts/setup.sh installs it);
# nothing is downloaded for it. Exits 77 (ctest: skipped) without node >= 20 and npm.
# Usage: tests/browser/setup.sh
set -euo pipefail
cd "$(dirname "$0")"
source ./lib.sh
browser_require_node

stamp=node_modules/.vrec-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/playwright-core ]; then
  echo "browser setup: node_modules matches package-lock.json"
  exit 0
fi
echo "browser setup: npm ci in $(pwd)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
