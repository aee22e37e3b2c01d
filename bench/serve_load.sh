#!/usr/bin/env bash
# Load benchmark of `vrec serve`: starts the server on a registry's production model, drives it
# with the open-loop load generator (fixed arrival rates, latency from each request's due time)
# with random users of the model's catalog, then searches the saturation rate, and prints the
# per-stage latency breakdown from /metrics. The generator runs on the same machine as the server.
#
# Usage: bench/serve_load.sh REGISTRY [RATES...]   (default rates: 500 1000)
# Env: VREC_BIN (build/vrec), LOADGEN (build/bench/loadgen), DURATION (20 s), PORT (18080),
#      SLO_MS (20), CACHE_TTL (server response cache TTL, default 1s as shipped), SATURATION (1;
#      0 skips the saturation search), IDLE (seconds the ready server idles before the first rate,
#      default 0: e.g. for the 8-bit IVF lists, built on a thread after a load, to be in place)
set -euo pipefail
cd "$(dirname "$0")/.."
registry=$1
shift
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(500 1000)
vrec=${VREC_BIN:-build/vrec}
loadgen=${LOADGEN:-build/bench/loadgen}
duration=${DURATION:-20}
port=${PORT:-18080}
slo=${SLO_MS:-20}
source scripts/env.sh

tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
version=$(head -1 "$registry/production" | tr -d '[:space:]')
tail -n +2 "$registry/versions/$version/catalog/users.csv" | cut -d, -f1 > "$tmp/users"
echo "model=$version users=$(wc -l < "$tmp/users") videos=$(($(wc -l < "$registry/versions/$version/catalog/videos.csv") - 1))"

VREC_CACHE_TTL=${CACHE_TTL:-1s} VREC_FEATURE_STORE_URI="rocksdb://$tmp/state" \
  "$vrec" serve --registry "$registry" --port "$port" > "$tmp/serve.out" 2> "$tmp/serve.err" &
server=$!
for _ in $(seq 1 1200); do
  curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$tmp/serve.err"; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" > /dev/null
sleep "${IDLE:-0}"

for rate in "${rates[@]}"; do
  echo "# rate $rate/s for ${duration}s"
  "$loadgen" --port "$port" --rate "$rate" --duration "$duration" --warmup 3 --users-file "$tmp/users" \
    --connections 256 | sed "s/^/rate${rate}_/"
done
if [ "${SATURATION:-1}" = 1 ]; then
  echo "# saturation search (p99 <= ${slo} ms, >= 95% of the target achieved)"
  "$loadgen" --port "$port" --find-saturation --rate 400 --slo-ms "$slo" --users-file "$tmp/users" \
    --step-seconds 8 --connections 256 | grep -v '^step=' || true
fi

echo "# per-stage latency from /metrics over every request above (quantiles interpolated within histogram buckets, as Prometheus' histogram_quantile does)"
curl -sf "http://127.0.0.1:$port/metrics" > "$tmp/metrics"
quantiles() {  # $1 = metric selector prefix, $2 = output name
  grep "^$1" "$tmp/metrics" | sed 's/.*le="\([^"]*\)"} \(.*\)/\1 \2/' | awk -v name="$2" '
    { le[NR] = ($1 == "+Inf") ? 1e9 : $1; cum[NR] = $2; n = NR }
    function q(p,   target, i, lo, prev) {
      target = p * cum[n]; prev = 0; lo = 0
      for (i = 1; i <= n; i++) {
        if (cum[i] >= target) return (lo + (le[i] - lo) * (cum[i] > prev ? (target - prev) / (cum[i] - prev) : 0)) * 1e6
        prev = cum[i]; lo = le[i]
      }
      return 0
    }
    END { if (n > 0 && cum[n] > 0) printf "%s_p50_us=%.0f %s_p99_us=%.0f count=%d\n", name, q(0.5), name, q(0.99), cum[n] }'
}
for stage in user_state retrieve filter rank order; do
  quantiles "vrec_stage_seconds_bucket{stage=\"$stage\"" "stage_$stage"
  sum=$(sed -n "s/^vrec_stage_seconds_sum{stage=\"$stage\"} //p" "$tmp/metrics")
  count=$(sed -n "s/^vrec_stage_seconds_count{stage=\"$stage\"} //p" "$tmp/metrics")
  awk -v s="$sum" -v c="$count" -v n="$stage" 'BEGIN { printf "stage_%s_mean_us=%.1f\n", n, (c > 0 ? s / c * 1e6 : 0) }'
done
quantiles 'vrec_http_request_seconds_bucket{route="/v1/users/{user_id}/recommendations"' handler
awk '/^process_resident_memory_bytes/ { printf "rss_after_load_mib=%d\n", $2 / 1048576 }' "$tmp/metrics"
awk '/^Rss(Anon|File)/ { printf "rss_after_load_%s_mib=%d\n", tolower($1), $2 / 1024 }' "/proc/$server/status" | tr -d ':'
awk '/^vrec_cache_lookups_total\{result="hit"\}/ {h = $2} /^vrec_cache_lookups_total\{result="miss"\}/ {m = $2}
     END { if (h + m > 0) printf "cache_hit_ratio=%.4f\n", h / (h + m) }' "$tmp/metrics"
