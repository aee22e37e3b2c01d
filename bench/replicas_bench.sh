#!/usr/bin/env bash
# Throughput of 2 `vrec serve` replicas vs 1, both on one redis-server behind HAProxy
# (deploy/haproxy.cfg), all on this machine: the saturation rate (the highest open-loop rate whose
# p99 stays within SLO_MS, build/bench/loadgen --find-saturation) of
#   direct   one replica, no load balancer (the reference)
#   lb1      HAProxy -> 1 replica
#   lb2      HAProxy -> 2 replicas
# run one after the other in the same session, with random users of the model's catalog.
# Usage: bench/replicas_bench.sh [REGISTRY]   (default: the committed tiny model)
# Env: VREC_BIN (build/vrec), LOADGEN (build/bench/loadgen), SLO_MS (20), THREADS (server.threads, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
vrec=${VREC_BIN:-build/vrec}
loadgen=${LOADGEN:-build/bench/loadgen}
slo=${SLO_MS:-20}
source scripts/env.sh
tmp=$(mktemp -d)
source tests/replicas_lib.sh
trap 'stop_all; rm -rf "$tmp"' EXIT

reg=${1:-}
if [ -z "$reg" ]; then
  reg="$tmp/registry"
  mkdir -p "$reg/versions"
  cp -r tests/testdata/serving_model_v1 "$reg/versions/v000001"
  echo v000001 > "$reg/production"
fi
version=$(head -1 "$reg/production" | tr -d '[:space:]')
tail -n +2 "$reg/versions/$version/catalog/users.csv" | cut -d, -f1 > "$tmp/users"
echo "model=$version users=$(wc -l < "$tmp/users") cores=$(nproc)"

start_redis
cat > "$tmp/vrec.toml" << CONF
[server]
threads = ${THREADS:-2}
access_log = false
[feature_store]
uri = "redis://127.0.0.1:$redis_port/0"
[events]
export = false
CONF
start_replica one "$tmp/vrec.toml"
start_replica two "$tmp/vrec.toml"
start_haproxy lb1 "${replica_port[one]}"
start_haproxy lb2 "${replica_port[one]}" "${replica_port[two]}"

saturation() {  # $1 = name, $2 = port
  local rate
  rate=$("$loadgen" --port "$2" --find-saturation --rate 200 --slo-ms "$slo" --users-file "$tmp/users" \
    --step-seconds 5 --connections 128 | sed -n 's/^saturation_rate=//p')
  echo "${1}_saturation_rate=$rate"
  eval "${1}_rate=${rate:-0}"
}
saturation direct "${replica_port[one]}"
saturation lb1 "${lb_url[lb1]##*:}"
saturation lb2 "${lb_url[lb2]##*:}"
awk -v a="$lb2_rate" -v b="$lb1_rate" 'BEGIN { if (b > 0) printf "two_vs_one_replicas=%.2f\n", a / b }'
