#!/usr/bin/env bash
# Durability and safe promotion through the real binary, on the committed tiny model:
#   1. kill -9 of `vrec serve` during event ingestion, 20 cycles, while a client keeps posting
#      batches (retrying each with the same event ids until acknowledged): every acknowledged
#      event is stored exactly once.
#   2. `vrec models promote` of a version that does not load is refused and production stays.
#   3. A server restarted on a corrupt production version starts on the rollback stack and says
#      so on /readyz.
# Usage: serve_crash_test.sh path/to/vrec source-root
set -euo pipefail

vrec=$1
root=$2
cycles=${VREC_CRASH_CYCLES:-20}
source "$(dirname "$0")/serve_test_lib.sh"
printf '[registry]\npoll_interval = "100ms"\n' > "$tmp/vrec.toml"

# Posts batches of 5 events for a fresh user each; a batch is retried (same event ids) until the
# server acknowledges it, then its user is written to acked.txt.
client() {
  local n=0
  while true; do
    local user=$((5000000 + n)) body="{\"events\":[" i
    for i in 1 2 3 4 5; do
      body+="{\"user_id\":$user,\"video_id\":$(( (n + i) % 150 + 1 )),\"type\":\"play\",\"event_id\":\"u$user-$i\"}"
      [ "$i" -lt 5 ] && body+=","
    done
    body+="]}"
    post_until_acked "$body" '"accepted":5'
    echo "$user" >> "$tmp/acked.txt"
    n=$((n + 1))
  done
}

# 1. kill -9 during ingestion.
: > "$tmp/acked.txt"
kill_cycles "$cycles" client
port=$(cat "$tmp/port")
acked=$(wc -l < "$tmp/acked.txt")
[ "$acked" -ge "$cycles" ] || fail "only $acked batches were acknowledged in $cycles cycles"
lost=0
for user in $(cat "$tmp/acked.txt"); do
  stored=$(curl -sf "http://127.0.0.1:$port/v1/users/$user/history" | grep -o '"video_id"' | wc -l)
  [ "$stored" -eq 5 ] || { echo "user $user: $stored events stored, 5 acknowledged" >&2; lost=$((lost + 1)); }
done
[ "$lost" -eq 0 ] || fail "$lost acknowledged batches not stored exactly once"
echo "crash: cycles=$cycles acknowledged_batches=$acked acknowledged_events=$((acked * 5)) lost=0 duplicated=0"

# 2. Promotion loads the version first.
cp -r "$root/tests/testdata/serving_model_v1" "$reg/versions/v000002"
chmod -R u+w "$reg/versions/v000002"
echo "not a model" > "$reg/versions/v000002/retrieval/two_tower.bin"
if "$vrec" models promote v000002 --registry "$reg" > "$tmp/promote.log" 2>&1; then
  fail "promoting a version that does not load must fail"
fi
grep -q "v000002 does not load for serving, production unchanged" "$tmp/promote.log" || { cat "$tmp/promote.log"; fail "promote message"; }
[ "$(head -1 "$reg/production")" = "v000001" ] || fail "the pointer moved"

# 3. A production version that does not load (written by hand, as an older vrec could have).
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
printf 'v000002\nv000001\n' > "$reg/production"
start_server
ready=$(curl -sf "http://127.0.0.1:$port/readyz")
[[ "$ready" == *'"model_version":"v000001"'*'"production_version":"v000002","fallback":true'* ]] || fail "readyz: $ready"
# Read whole before grep: `curl | grep -q` fails under pipefail when grep quits before curl wrote all.
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
grep -q '^vrec_model_fallback 1' <<< "$metrics" || fail "metrics must show the fallback"
curl -sf "http://127.0.0.1:$port/v1/users/5/recommendations?count=5" | grep -q '"model_version":"v000001"' \
  || fail "recommendations from the fallback"
echo "fallback: production=v000002 (corrupt) served=v000001"
