#!/usr/bin/env bash
# The web console in headless Chromium against a real `vrec serve`: a registry made by two small
# pipeline runs (two versions, their run records and gate verdicts, a promotion history), traffic
# and events sent to the server, then every page of the console opened with the admin key: no
# console error, no failed request or HTTP error, and each page shows the server's data (its
# tables and charts, a run id, a user's explained recommendations). Screenshots stay in OUT_DIR.
# Usage: console_browser_test.sh PATH/TO/vrec OUT_DIR  (after tests/browser/setup.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
vrec=$1
out=$2
browser_require_node
browser_require_chromium
mkdir -p "$out"
rm -f "$out"/console-*.png

tmp=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null; rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  [ -f "$tmp/serve.err" ] && tail -5 "$tmp/serve.err" >&2
  exit 1
}

reg="$tmp/registry"
for seed in 1 2; do
  "$vrec" pipeline run --registry "$reg" --synthetic 80x150x4000 --gate-retrieval-recall 0 \
    --gate-retrieval-ndcg 0 --gate-ranker-auc 0 --gate-ranker-ndcg 0 --gate-max-regression 1 > "$tmp/pipeline$seed.out" 2>&1 ||
    { tail -5 "$tmp/pipeline$seed.out"; fail "pipeline run $seed"; }
done
run_id=$(sed -n 's|^record=.*/\(.*\)\.json$|\1|p' "$tmp/pipeline2.out")
[ -n "$run_id" ] || fail "no record= line in the second run's output"

key=console-test-admin-key-0123
VREC_SERVER_ADMIN_KEYS=$key VREC_FEATURE_STORE=memory:// \
  "$vrec" serve --registry "$reg" --port 0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
server_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.out")
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
  kill -0 "$server_pid" 2> /dev/null || fail "vrec serve exited"
  port=""
  sleep 0.1
done
[ -n "$port" ] || fail "vrec serve not ready"
base="http://127.0.0.1:$port"

# A user of the catalog and a video they are recommended: what the inspectors will show.
user=1
curl -sf -H "X-Api-Key: $key" "$base/v1/users/$user" > /dev/null || fail "user $user is not in the catalog"
video=$(curl -sf -H "X-Api-Key: $key" "$base/v1/users/$user/recommendations?count=1" | jq -r '.items[0].video_id')
[ -n "$video" ] && [ "$video" != null ] || fail "no recommendation for user $user"
curl -sf -H "X-Api-Key: $key" -H 'Content-Type: application/json' -X POST "$base/v1/events" \
  -d "{\"user_id\": $user, \"video_id\": $video, \"type\": \"play\", \"watch_ratio\": 0.8, \"event_id\": \"console-1\"}" \
  > /dev/null || fail "posting an event"
# Traffic for the live charts, while the traffic page is open.
( for _ in $(seq 1 400); do
    curl -s -H "X-Api-Key: $key" "$base/v1/users/$((RANDOM % 80 + 1))/recommendations?count=5" > /dev/null
    sleep 0.02
  done ) &
traffic_pid=$!

check() {
  local name=$1 fragment=$2
  shift 2
  node "$here/check_page.mjs" "$base/console#$fragment" --header "X-Api-Key: $key" --viewport 1400x900 \
    --screenshot "$out/console-$name.png" "$@" || fail "console page $name"
}
check models models --expect '#versions' --expect '#versions-chart' --expect '#history' \
  --expect-text v000002 --expect-text 'pipeline run'
check runs runs --expect '#runs' --expect '#gates' --expect '#steps-chart' --expect-text "$run_id" \
  --expect-text 'two_stage_ndcg@10'
check traffic traffic --expect '#rate-chart' --expect '#latency-chart' --expect '#routes' \
  --expect-text '/v1/users/{user_id}/recommendations'
check user "user?id=$user" --expect '#profile' --expect '#recommendations .contrib' --expect '#dropped' \
  --expect '#history' --expect-text "$video"
check video "video?id=$video" --expect '#video' --expect '#video-counters' --expect '#similar'
check experiments experiments --expect '#variants' --expect '#variants-chart' --expect '#canary' --expect '#ledger-versions' --expect-text default
check api api --expect '#api' --expect-text '/v1/admin/runs'
kill "$traffic_pid" 2> /dev/null || true
echo "console_browser_test: ok (7 pages, screenshots in $out)"
