#!/usr/bin/env bash
# The loop from events back to training, through the real binaries on the committed tiny model:
# events posted to `vrec serve` are exported to segments; `vrec trainer --once` is not due below
# trainer.min_new_events, runs when enough arrived (through the gates), promotes a version whose
# manifest records events.through_seq, and is not due again until new events arrive (also after a
# restart: its state file); `vrec pipeline run --platform` trains on the same data by hand.
# Usage: trainer_cli_test.sh path/to/vrec source-root
set -euo pipefail

vrec=$1
root=$2
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

reg="$tmp/registry"
mkdir -p "$reg/versions"
cp -r "$root/tests/testdata/serving_model_v1" "$reg/versions/v000001"
echo v000001 > "$reg/production"
# The tiny model's figures are noise: the gates only check that the new model is no worse by more
# than a full point, which always holds, so the test is about the loop, not about quality.
cat > "$tmp/vrec.toml" <<'CONF'
[events]
export_interval = "100ms"
[trainer]
min_new_events = 150
check_interval = "100ms"
[gates]
min_retrieval_recall_at_100 = 0
min_retrieval_ndcg_at_10 = 0
min_ranker_auc = 0
min_ranker_ndcg = 0
max_regression = 1
CONF

: > "$tmp/serve.out"  # before the server starts: the loop below reads it at once
"$vrec" serve --registry "$reg" --config "$tmp/vrec.toml" --port 0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
server_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.out")
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/serve.err"; fail "server exited"; }
  sleep 0.05
done
[ -n "$port" ] || fail "server not ready"

# post FIRST COUNT: COUNT events in batches of 10, event ids e<FIRST>...
post() {
  local first=$1 count=$2 b i n body
  for ((b = first; b < first + count; b += 10)); do
    body='{"events":['
    for ((i = 0; i < 10; i++)); do
      n=$((b + i))
      body+="{\"user_id\":$((n % 90 + 1)),\"video_id\":$((n * 7 % 160 + 1)),\"type\":\"play\",\"watch_ratio\":0.8,\"event_id\":\"e$n\"}"
      [ $i -lt 9 ] && body+=","
    done
    body+=']}'
    curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/v1/events" \
      | grep -q '"stored":10' || fail "batch $b not stored"
  done
}
# Waits until the segments hold sequence $1.
exported() {
  for _ in $(seq 1 100); do
    # Whole, then grep: `curl | grep -q` fails under pipefail when grep quits before curl is done.
    grep -q "^vrec_events_exported_through $1\$" <<< "$(curl -sf "http://127.0.0.1:$port/metrics")" && return 0
    sleep 0.05
  done
  fail "events through $1 not exported"
}
trainer_once() { "$vrec" trainer --registry "$reg" --config "$tmp/vrec.toml" --once 2>> "$tmp/trainer.err"; }

post 0 100
exported 100
out=$(trainer_once)
[[ "$out" == *"due=false new_events=100 "*"ran=false"* ]] || fail "100 of 150 events must not be due: $out"

post 100 100
exported 200
start=$(date +%s%N)
out=$(trainer_once) || { cat "$tmp/trainer.err"; fail "trainer run"; }
millis=$((($(date +%s%N) - start) / 1000000))
[[ "$out" == *"due=true new_events=200 "*"ran=true"*'outcome="promoted v000002"'* ]] || fail "run: $out"
[ "$(head -1 "$reg/production")" = v000002 ] || fail "v000002 not in production"
grep -q '"events.through_seq": "200"' "$reg/versions/v000002/manifest.json" || fail "through_seq not recorded"
ls "$reg/runs/"*.json > /dev/null || fail "no pipeline run record"
grep -q '"outcome":"promoted v000002"' "$reg/trainer/runs.jsonl" || fail "no trainer run line"
# The server swaps the new model in.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" | grep -q '"model_version":"v000002"' && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/readyz" | grep -q '"model_version":"v000002"' || fail "server did not load v000002"

# Nothing new: not due, also for a restarted trainer (state file).
out=$(trainer_once)
[[ "$out" == *"due=false new_events=0 "* ]] || fail "not due after the run: $out"

# The long-running form: it runs when 150 more events arrive, then waits; SIGTERM ends it.
"$vrec" trainer --registry "$reg" --config "$tmp/vrec.toml" > /dev/null 2> "$tmp/loop.err" &
trainer_pid=$!
post 200 150
for _ in $(seq 1 600); do
  [ "$(head -1 "$reg/production")" = v000003 ] && break
  sleep 0.1
done
[ "$(head -1 "$reg/production")" = v000003 ] || { cat "$tmp/loop.err"; fail "the trainer loop did not promote v000003"; }
grep -q '"events.through_seq": "350"' "$reg/versions/v000003/manifest.json" || fail "v000003 through_seq"
# A signal during a run ends the process at once (by design); wait until the run is over and the
# trainer is back in its wait, where SIGTERM is a clean stop.
for _ in $(seq 1 600); do
  grep -q "trainer: state saved" "$tmp/loop.err" && break
  sleep 0.1
done
grep -q "trainer: state saved" "$tmp/loop.err" || { cat "$tmp/loop.err"; fail "the trainer loop did not report the run"; }
kill "$trainer_pid"
wait "$trainer_pid" || fail "the trainer did not stop cleanly on SIGTERM"

# By hand, without promotion: the same data source.
"$vrec" pipeline run --registry "$reg" --platform --config "$tmp/vrec.toml" --no-promote > "$tmp/pipeline.out" \
  2> "$tmp/pipeline.err" || { cat "$tmp/pipeline.err"; fail "pipeline run --platform"; }
grep -q "version=v000004 promoted=false" "$tmp/pipeline.out" || fail "pipeline --platform: $(cat "$tmp/pipeline.out")"
grep -q "platform: base v000003 through event 350, 0 segments" "$tmp/pipeline.err" || fail "platform source"
echo "trainer: run on the tiny model took ${millis} ms; loop promoted v000003; pipeline --platform registered v000004"
