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
# npm waits 5 minutes on a stalled request by default, as long as ctest gives this whole step: a
# request that stalls (seen once on a healthy network) is dropped after 30 s and retried instead.
npm ci --no-audit --no-fund --loglevel=error --fetch-timeout=30000 --fetch-retries=4 \
  --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=20000
echo "$want" > "$stamp"
