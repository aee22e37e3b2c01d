#!/usr/bin/env bash
# The page checker fails where it must: console errors, uncaught errors, failed requests, HTTP
# errors, missing or hidden elements, missing text; it sends --header's headers, and passes a
# good page with a screenshot. Pages are files and a node HTTP server on 127.0.0.1 (any free port).
# Usage: check_page_test.sh  (after tests/browser/setup.sh)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
browser_require_node
browser_require_chromium

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
# Checks that must fail run on a short budget (each missing element waits a sixth of it); checks
# that must pass get the default 30 s, so a busy machine (ctest -j2 beside builds) cannot fail them.
check() { node "$here/check_page.mjs" --timeout "${budget:-6000}" "$@" > "$tmp/out" 2> "$tmp/err"; }

# expect_fail NAME PATTERN -- ARGS...: the checker exits 1 and says PATTERN on stderr.
expect_fail() {
  local name=$1 pattern=$2
  shift 3
  check "$@"
  local rc=$?
  if [ "$rc" -eq 1 ] && grep -q -- "$pattern" "$tmp/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc, want 1 and '$pattern'; stderr:"
    cat "$tmp/err"
  fi
}
expect_ok() {
  local name=$1
  shift 2
  if budget=30000 check "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name:"
    cat "$tmp/err"
  fi
}

page() { printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>%s</body></html>\n' "$2" > "$tmp/$1"; }
page good.html '<h1 id="title">Hello report</h1><svg id="plot" width="100" height="50"><rect width="80" height="40" fill="#0072B2"/></svg>'
page console.html '<p id="x">x</p><script>console.error("boom from the page")</script>'
page throws.html '<p>x</p><script>throw new Error("kaput")</script>'
page missing_image.html "<img src=\"file://$tmp/no-such-image.png\">"
page hidden.html '<div id="hidden" style="display:none">secret</div>'

expect_ok good -- "$tmp/good.html" --expect '#title' --expect 'svg#plot rect' --expect-text 'Hello report' \
  --screenshot "$tmp/good.png"
if [ "$(head -c 8 "$tmp/good.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL screenshot: $tmp/good.png is not a PNG"
fi
expect_ok file_url -- "file://$tmp/good.html" --expect '#title'
expect_fail console_error "console error: boom from the page" -- "$tmp/console.html"
expect_fail page_error "uncaught page error: .*kaput" -- "$tmp/throws.html"
expect_fail failed_request "request failed: GET file://$tmp/no-such-image.png" -- "$tmp/missing_image.html"
expect_fail missing_selector "no element matches '#nope'" -- "$tmp/good.html" --expect '#nope'
expect_fail hidden_selector "'#hidden' matches 1 elements, none visible" -- "$tmp/hidden.html" --expect '#hidden'
expect_fail missing_text "text not on the page: 'Goodbye'" -- "$tmp/good.html" --expect-text 'Goodbye'
# A failed check still leaves its screenshot, to see why.
expect_fail screenshot_on_failure "no element matches" -- "$tmp/good.html" --expect '#nope' --screenshot "$tmp/f.png"
[ -s "$tmp/f.png" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL no screenshot after a failure"; }
check
[ $? -eq 2 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL no URL must be a usage error (2)"; }
check "$tmp/good.html" --header 'no colon'
[ $? -eq 2 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL a malformed --header must be a usage error (2)"; }

# HTTP: a page that wants a bearer token, and one whose image is missing (404).
cat > "$tmp/server.mjs" << 'EOF'
import { createServer } from 'node:http';
const server = createServer((req, res) => {
  if (req.url === '/' && req.headers.authorization !== 'Bearer s3cret') {
    res.writeHead(401, { 'content-type': 'text/plain' });
    return res.end('unauthorized');
  }
  if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<!DOCTYPE html><link rel="icon" href="data:,"><h1 id="console">console for ' +
                   req.headers['x-user'] + '</h1>');
  }
  if (req.url === '/broken') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<!DOCTYPE html><link rel="icon" href="data:,"><img src="/no-such.png">');
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
EOF
node "$tmp/server.mjs" > "$tmp/port" &
server_pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.1
done
port=$(cat "$tmp/port")
if [ -z "$port" ]; then
  echo "FAIL the test's HTTP server did not start"
  exit 1
fi
base="http://127.0.0.1:$port"
expect_fail http_401 "HTTP 401 for GET $base/" -- "$base/"
expect_ok http_headers -- "$base/" --header "Authorization: Bearer s3cret" --header "X-User: ada" \
  --expect '#console' --expect-text 'console for ada'
expect_fail http_404 "HTTP 404 for GET $base/no-such.png" -- "$base/broken"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
