# Sourced by the browser tests' scripts.

# Exits 77 (ctest: skipped), saying why, unless node >= 20 and npm are installed (playwright-core's
# minimum; Debian 12's own nodejs is 18 and comes without npm).
browser_require_node() {
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "SKIP: the browser tests need node >= 20 and npm" >&2
    exit 77
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "SKIP: the browser tests need node >= 20 (found $(node --version))" >&2
    exit 77
  fi
}

# Fails unless the browser check_page.mjs drives is there (scripts/setup.sh installs it).
browser_require_chromium() {
  local chromium=${CHROMIUM:-/usr/bin/chromium}
  if [ ! -x "$chromium" ]; then
    echo "FAIL: no browser at $chromium: apt-get install chromium (scripts/setup.sh does)" >&2
    exit 1
  fi
}
