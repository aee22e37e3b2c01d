#!/usr/bin/env bash
# The deployed system as an operator runs it, through the vrec binary and real HTTP:
#   1. `vrec pipeline run` registers and promotes v000001; a second run with an impossible gate
#      exits non-zero and leaves production unchanged; a third run registers v000002 with an IVF
#      index whose probes it measured.
#   2. `vrec serve` answers, probing the IVF lists its config says; acknowledged events survive
#      kill -9 of the server.
#   3. `vrec models rollback` while requests keep flowing: the server switches to v000001 with no
#      failed request.
# Usage: serve_cli_test.sh path/to/vrec
set -euo pipefail

vrec=$1
tmp=$(mktemp -d)
server_pid=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$tmp/vrec.toml" <<'EOF'
[training]
two_tower_max_epochs = 2
label_folds = 1
ranker_rounds = 20
[gates]
min_retrieval_recall_at_100 = 0
min_retrieval_ndcg_at_10 = 0
min_ranker_auc = 0
min_ranker_ndcg = 0
max_regression = 1
[registry]
poll_interval = "200ms"
EOF

"$vrec" data synth --users 300 --videos 500 --interactions 30000 --out "$tmp/data" > /dev/null
reg="$tmp/registry"
pipeline() { "$vrec" pipeline run --registry "$reg" --data "$tmp/data" --config "$tmp/vrec.toml" --threads 2 "$@"; }

# 1. Pipeline: deploy, refuse, deploy.
pipeline > "$tmp/run1.log" 2>&1 || { cat "$tmp/run1.log"; fail "first pipeline run"; }
grep -q "version=v000001 promoted=true" "$tmp/run1.log" || fail "v000001 not promoted"
rc=0
pipeline --gate-ranker-auc 1.01 > "$tmp/run2.log" 2>&1 || rc=$?
[ "$rc" -eq 3 ] || { cat "$tmp/run2.log"; fail "an impossible gate must fail the run with exit code 3 (got $rc)"; }
grep -q "gates failed, nothing deployed; production stays v000001" "$tmp/run2.log" || { cat "$tmp/run2.log"; fail "gate message"; }
"$vrec" models list --registry "$reg" | grep -q '^\* *v000001' || { "$vrec" models list --registry "$reg"; fail "production changed"; }
[ "$(ls "$reg/runs"/*.json | wc -l)" -eq 2 ] || fail "every run must leave a record"
[ "$(ls "$reg/runs"/*.html | wc -l)" -eq 2 ] || fail "every run must leave an HTML report"
grep -q '^report=.*/runs/.*\.html$' "$tmp/run2.log" || { cat "$tmp/run2.log"; fail "the run did not name its report"; }
grep -q '<tr class="fail">' "$reg"/runs/*.html || fail "the failed run's report shows no failed gate"
# v000002 ships an IVF index, its probes measured against exact search (index_recall@500).
VREC_PIPELINE_VIDEO_INDEX=ivf pipeline --json > "$tmp/run3.json" 2> "$tmp/run3.log" ||
  { cat "$tmp/run3.log"; fail "third pipeline run"; }
jq -e '.version == "v000002" and .promoted == true and (.["seconds.train"] | type) == "number"' "$tmp/run3.json" > /dev/null ||
  { cat "$tmp/run3.json"; fail "v000002 not promoted (--json)"; }
jq -e '.["index_recall@500"] >= 0.95 and (.["seconds.deploy.index_recall"] | type) == "number"' "$tmp/run3.json" > /dev/null ||
  { cat "$tmp/run3.json"; fail "the IVF index's recall was not measured"; }
jq -e '.params["index.kind"] == "ivf" and (.params["index.search_effort"] | startswith("ivf_nprobe "))' \
  "$reg/versions/v000002/manifest.json" > /dev/null || fail "the manifest does not say how the index searches"

start_server() {
  # [retrieval] ivf_nprobe overrides the shipped probes at every model load (the log says so).
  : > "$tmp/serve.out"  # before the server starts: the loop below reads it at once
  VREC_RETRIEVAL_IVF_NPROBE=3 "$vrec" serve --registry "$reg" --config "$tmp/vrec.toml" --port 0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.out")
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/serve.err"; fail "server exited"; }
    sleep 0.1
  done
  fail "server not ready"
}

# 2. Durability: every acknowledged event survives kill -9.
start_server
grep -q "model v000002 loaded .*index ivf: 3 of [0-9]* lists probed" "$tmp/serve.err" ||
  { cat "$tmp/serve.err"; fail "retrieval.ivf_nprobe did not reach the loaded index"; }
user=4242424242
acked=0
for batch in $(seq 1 20); do
  body="{\"events\":["
  for i in $(seq 1 5); do
    v=$(( (batch * 5 + i) % 500 + 1 ))
    body+="{\"user_id\":$user,\"video_id\":$v,\"type\":\"play\",\"watch_ratio\":0.5}"
    [ "$i" -lt 5 ] && body+=","
  done
  body+="]}"
  reply=$(curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/v1/events")
  echo "$reply" | grep -q '"accepted":5' || fail "event batch not acknowledged: $reply"
  acked=$((acked + 5))
done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
start_server
stored=$(curl -sf "http://127.0.0.1:$port/v1/users/$user/history" | grep -o '"video_id"' | wc -l)
[ "$stored" -eq "$acked" ] || fail "acknowledged $acked events, $stored in the history after kill -9"
echo "crash: acknowledged=$acked recovered=$stored"

# 2b. A corrupt copy of a version (one byte of serving.vart flipped) is refused by promote: its
#     checksums are verified before the pointer moves.
cp -r "$reg/versions/v000002" "$reg/versions/v000009"
chmod -R u+w "$reg/versions/v000009"
size=$(stat -c %s "$reg/versions/v000009/serving.vart")
printf '\x5a' | dd of="$reg/versions/v000009/serving.vart" bs=1 seek=$((size / 2)) conv=notrunc status=none
if "$vrec" models promote v000009 --registry "$reg" > "$tmp/corrupt.log" 2>&1; then
  fail "promoting a corrupt version must fail"
fi
grep -q "v000009 is corrupt, production unchanged" "$tmp/corrupt.log" || { cat "$tmp/corrupt.log"; fail "corrupt promote message"; }
rm -rf "$reg/versions/v000009"

# 3. Rollback under load: production goes back to v000001, every request succeeds.
[ "$(curl -sf "http://127.0.0.1:$port/readyz" | jq -r .model_version)" = v000002 ] || fail "server should serve v000002"
(
  errors=0
  while true; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/users/$((RANDOM % 300 + 1))/recommendations?count=10")
    [ "$code" = "200" ] || { errors=$((errors + 1)); echo "error $code" >> "$tmp/load.err"; }
  done
) &
load_pid=$!
sleep 1
"$vrec" models rollback --registry "$reg" --reason "serve_cli_test" > /dev/null
# /readyz names the production pointer as soon as it moves and the loaded model once the swap is
# done: wait for the loaded one (a sanitizer build takes seconds to load a version).
serving() { curl -sf "http://127.0.0.1:$port/readyz" | jq -r .model_version; }
for _ in $(seq 1 600); do
  [ "$(serving)" = v000001 ] && break
  sleep 0.1
done
[ "$(serving)" = v000001 ] || fail "rollback not picked up: $(curl -s "http://127.0.0.1:$port/readyz")"
sleep 1
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=""
[ ! -s "$tmp/load.err" ] || { cat "$tmp/load.err"; fail "requests failed during the rollback"; }
reply=$(curl -sf "http://127.0.0.1:$port/v1/users/7/recommendations?count=10")
[ "$(echo "$reply" | grep -o '"video_id"' | wc -l)" -eq 10 ] || fail "expected 10 items: $reply"
echo "$reply" | grep -q '"model_version":"v000001"' || fail "response must name v000001: $reply"
echo "rollback: served v000001 with no failed request"
# The audit log: two promotions by the pipeline, then the operator's rollback with its reason.
history=$("$vrec" models history --registry "$reg")
[ "$(echo "$history" | grep -c ' promote ')" -eq 2 ] || fail "expected two promotions: $history"
echo "$history" | tail -1 | grep -Eq 'rollback +v000002 +v000001 +serve_cli_test$' ||
  fail "the last entry must be the rollback: $history"
echo "serve_cli_test: OK"
