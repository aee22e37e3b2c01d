#!/usr/bin/env bash
# Canary trials against a simulated population whose true preferences are known (the synthetic
# platform's ground truth, data::SyntheticWorld):
#   1. a synthetic platform (2,000 users, 3,000 videos, 150k rows) and models trained on it by the
#      real pipeline: production on 5% of its rows (weak), a deliberately worse candidate trained
#      on another platform (seed 7: other users' tastes under the same ids), a better one trained
#      on all the rows, and production trained again (the same model: an A/A trial);
#   2. vrec serve with a 20 s canary window; the worse candidate goes on trial for 50% of users,
#      canary_sim plays the users (each visit: 10 recommendations, every item answered as the
#      ground truth says, events posted with the response's request_id) until the server ends the
#      trial; then the same for the A/A candidate and for the better one.
# Prints name=value lines: each trial's verdict, the server's reason (its CTR difference and
# interval) and how long the decision took, beside the population's own plays per impression.
# Usage: bench/canary_sim.sh [BUILD_DIR] [WORK_DIR]   (~7 min on 2 cores: the three trainings;
# a second run in the same WORK_DIR reuses them and takes ~1 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=${2:-$(mktemp -d)}
vrec=$build/vrec
sim=$build/bench/canary_sim
[ -x "$vrec" ] && [ -x "$sim" ] || { echo "build vrec and canary_sim first (cmake --build build)" >&2; exit 1; }
mkdir -p "$work"
server=""
trap '[ -n "$server" ] && kill "$server" 2> /dev/null || true' EXIT

users=2000 videos=3000 rows=150000
reg=$work/registry
gates=(--gate-retrieval-recall 0 --gate-retrieval-ndcg 0 --gate-ranker-auc 0 --gate-ranker-ndcg 0
       --gate-max-regression 1)
train() {  # train DATA_DIR [--no-promote]: prints the new version
  "$vrec" pipeline run --registry "$reg" --data "$1" "${gates[@]}" "${@:2}" 2> "$work/pipeline.err" |
    sed -n 's/^version=\([^ ]*\).*/\1/p'
}
if [ -d "$reg/versions/v000004" ]; then  # a second run in the same WORK_DIR reuses the models
  production=v000001 worse=v000002 better=v000003 same=v000004
  "$vrec" models promote "$production" --registry "$reg" --reason "canary_sim: again" > /dev/null 2>&1
else
  "$vrec" data synth --users $users --videos $videos --interactions $rows --seed 42 --out "$work/platform" > /dev/null
  "$vrec" data synth --users $users --videos $videos --interactions $rows --seed 7 --out "$work/other" > /dev/null
  mkdir -p "$work/weak"
  cp "$work/platform/users.csv" "$work/platform/videos.csv" "$work/weak/"
  awk 'NR == 1 || NR % 20 == 0' "$work/platform/interactions.csv" > "$work/weak/interactions.csv"
  production=$(train "$work/weak")
  worse=$(train "$work/other" --no-promote)
  better=$(train "$work/platform" --no-promote)
  same=$(train "$work/weak" --no-promote)
fi
echo "production=$production worse=$worse better=$better same=$same"

cat > "$work/serve.toml" << 'EOF'
[registry]
poll_interval = "500ms"

[feature_store]
uri = "memory://"

[cache]
ttl = "0s"

[server]
access_log = false

[experiment]
ledger_flush_interval = "500ms"

[canary]
window = "20s"
min_impressions = 2000
max_relative_drop = 0.05
# Production here knows 5% of the rows: its users' histories are 20x shorter than the better
# model's, so each of its requests is cheaper (p99 ~1 ms against ~3 ms). A p99 under 5 ms is what
# serving promises (README), so differences below that do not roll a trial back here.
p99_slack_ms = 5
EOF
: > "$work/serve.out"  # before the server starts: the loop below reads it at once
"$vrec" serve --registry "$reg" --config "$work/serve.toml" --port 0 > "$work/serve.out" 2> "$work/serve.err" &
server=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.out")
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
  port=""
  sleep 0.1
done
[ -n "$port" ] || { tail "$work/serve.err" >&2; exit 1; }

trial() {  # trial NAME VERSION SEED
  "$vrec" models canary "$2" --share 0.5 --registry "$reg" --reason "canary_sim: $1" > /dev/null 2>&1
  sleep 1.5  # the server loads the trial at its next poll
  "$sim" --port "$port" --registry "$reg" --users $users --videos $videos --interactions $rows --world-seed 42 \
    --seed "$3" --max-seconds 120 | sed "s/^/$1./"
}
trial worse "$worse" 1
trial same "$same" 3
trial better "$better" 2
echo "production_after=$("$vrec" models list --registry "$reg" --json | jq -r '.[] | select(.production) | .version')"
