#!/usr/bin/env bash
# Start-up of `vrec serve`: seconds from the process start to the first 200 of /readyz, over RUNS
# runs on the production version of REGISTRY (the event export off; the online store is the
# registry's own, so stop any server on it first). Prints name=value lines:
#   serve_start_s_median=... serve_start_s_min=... serve_start_s_max=... serve_start_rss_mib=...
#   and the last run's RSS by kind and the model's bytes by component.
#
#   bash bench/serve_start.sh REGISTRY [RUNS=5] [PORT=18199]
set -euo pipefail
registry=${1:?usage: bench/serve_start.sh REGISTRY [RUNS] [PORT]}
runs=${2:-5}
port=${3:-18199}
vrec="$(dirname "$0")/../build/vrec"
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '[events]\nexport = false\n' > "$conf"
times=()
rss=0
for _ in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$vrec" serve --registry "$registry" --port "$port" --config "$conf" > /dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1; do
    kill -0 "$pid" 2> /dev/null || { echo "error: vrec serve exited" >&2; exit 1; }
    sleep 0.005
  done
  times+=($(( $(date +%s%N) - start )))
  rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  rss_parts=$(awk '/^Rss(Anon|File|Shmem)/ {printf "serve_start_%s_mib=%d\n", tolower($1), $2 / 1024}' "/proc/$pid/status" | tr -d ':')
  components=$(curl -sf "http://127.0.0.1:$port/metrics" |
    sed -n 's/^vrec_model_bytes{component="\([a-z_]*\)"} \(.*\)/\1 \2/p; s/^vrec_live_counters_bytes \(.*\)/live_counters \1/p' |
    awk '{ printf "serve_start_model_%s_mib=%.1f\n", $1, $2 / 1048576 }')
  kill "$pid"
  wait "$pid" 2> /dev/null || true
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
seconds() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
echo "serve_start_runs=$runs"
echo "serve_start_s_median=$(seconds "${sorted[$((runs / 2))]}")"
echo "serve_start_s_min=$(seconds "${sorted[0]}")"
echo "serve_start_s_max=$(seconds "${sorted[$((runs - 1))]}")"
echo "serve_start_rss_mib=$rss"
# The last run's resident memory by kind (anonymous = heap; file = mapped model pages read so far)
# and the model's parts as the server counts them (/metrics vrec_model_bytes).
echo "$rss_parts"
echo "$components"
