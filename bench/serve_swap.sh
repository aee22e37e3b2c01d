#!/usr/bin/env bash
# Model swaps under load: `vrec serve` answers RATE req/s (open loop, build/bench/loadgen) while the
# production pointer moves between two copies of a registry's production version SWAPS times (each
# swap loads a whole model beside the one being served, then switches). Prints name=value lines:
# errors and timeouts over the whole run, each swap's duration (pointer moved and reload requested ->
# new version served), and the latency of the requests due during the swaps (from 0.5 s before each swap starts to 0.5 s
# after it ends) beside those due outside them.
#
#   bash bench/serve_swap.sh REGISTRY [RATE=1000] [SWAPS=3]
# Env: VREC_BIN (build/vrec), LOADGEN (build/bench/loadgen), PORT (18097), GAP (seconds between
#      swaps, 6), SWAP_S (seconds a swap may take, 20: the load runs that long per swap).
#
# The generator opens 128 connections: with 256 (serve_load.sh) the server's per-client cap would
# refuse the script's own reload and /metrics requests from the same address.
#
# The registry is not modified: the two versions are hard links (or copies) of its production
# version in a scratch registry beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
registry=${1:?usage: bench/serve_swap.sh REGISTRY [RATE] [SWAPS]}
rate=${2:-1000}
swaps=${3:-3}
vrec=${VREC_BIN:-build/vrec}
loadgen=${LOADGEN:-build/bench/loadgen}
port=${PORT:-18097}
gap=${GAP:-6}
source scripts/env.sh

version=$(head -1 "$registry/production" | tr -d '[:space:]')
tmp=$(mktemp -d -p "$(dirname "$(realpath "$registry")")" .vrec-swap.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/reg/versions"
for v in v000001 v000002; do
  cp -al "$registry/versions/$version" "$tmp/reg/versions/$v" 2>/dev/null ||
    cp -a "$registry/versions/$version" "$tmp/reg/versions/$v"
done
"$vrec" models promote --registry "$tmp/reg" v000001 > /dev/null
tail -n +2 "$registry/versions/$version/catalog/users.csv" | cut -d, -f1 > "$tmp/users"
printf '[events]\nexport = false\n[registry]\npoll_interval = "1h"\n' > "$tmp/conf"

VREC_FEATURE_STORE_URI="rocksdb://$tmp/state" "$vrec" serve --registry "$tmp/reg" --port "$port" \
  --config "$tmp/conf" > "$tmp/serve.out" 2> "$tmp/serve.err" &
server=$!
until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1; do
  kill -0 $server 2> /dev/null || { cat "$tmp/serve.err"; exit 1; }
  sleep 0.05
done

serving() { curl -sf "http://127.0.0.1:$port/metrics" | grep -q "^vrec_model_info{version=\"$1\"} 1"; }
now_ms() { date +%s%3N; }
warmup=3
# The generator runs through every swap: allow SWAP_S seconds per swap.
duration=$((gap * (swaps + 1) + swaps * ${SWAP_S:-20}))
"$loadgen" --port "$port" --rate "$rate" --duration "$duration" --warmup "$warmup" --users-file "$tmp/users" \
  --connections 128 --latency-log "$tmp/latency" > "$tmp/loadgen.out" &
gen=$!
sleep $((warmup + gap))
: > "$tmp/swaps"
target=v000001
for i in $(seq 1 "$swaps"); do
  target=$([ "$target" = v000001 ] && echo v000002 || echo v000001)
  # The pointer is replaced as `vrec models promote` replaces it (atomic rename), without the
  # promote's check load: that would be a third model in memory on this machine, and an operator
  # promotes from the trainer's machine anyway.
  start=$(now_ms)
  other=$([ "$target" = v000001 ] && echo v000002 || echo v000001)
  printf '%s\n%s\n' "$target" "$other" > "$tmp/reg/production.new"
  mv "$tmp/reg/production.new" "$tmp/reg/production"
  reload=$(now_ms)
  code=$(curl -s -o "$tmp/reload.out" -w "%{http_code}" -X POST "http://127.0.0.1:$port/v1/admin/reload")
  [ "$code" = 202 ] || { echo "error: reload answered $code: $(cat "$tmp/reload.out")" >&2; exit 1; }
  # Polled every 0.1 s: at 0.01 s the curl processes and /metrics pages took ~12% of the 2 cores
  # during a swap, loading the machine the swap is measured on.
  until serving "$target"; do sleep 0.1; done
  end=$(now_ms)
  echo "$start $end" >> "$tmp/swaps"
    echo "swap${i}_reload_s=$(awk -v a="$reload" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1000 }')"
  [ "$i" -lt "$swaps" ] && sleep "$gap"
done
wait $gen
grep -E '^(scheduled|ok|errors_http|errors_conn|timeouts|achieved_rate|p50_ms|p99_ms|max_ms)=' "$tmp/loadgen.out" |
  sed 's/^/all_/'
# Latencies of the requests due during a swap (+-0.5 s) and of the others.
awk -v margin=500 '
  NR == FNR { lo[NR] = $1 - margin; hi[NR] = $2 + margin; n = NR; next }
  { inside = 0; for (i = 1; i <= n; i++) if ($1 >= lo[i] && $1 <= hi[i]) inside = 1
    print $2 > (inside ? "'"$tmp"'/during" : "'"$tmp"'/outside") }' "$tmp/swaps" "$tmp/latency"
pct() {  # $1 = file, $2 = percentile -> ms
  sort -n "$1" | awk -v q="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    r = int(NR * q / 100); if (r < NR * q / 100) r++; if (r < 1) r = 1; printf "%.2f", v[r] / 1000 }'
}
for part in during outside; do
  touch "$tmp/$part"
  echo "${part}_swaps_requests=$(wc -l < "$tmp/$part")"
  echo "${part}_swaps_p50_ms=$(pct "$tmp/$part" 50)"
  echo "${part}_swaps_p99_ms=$(pct "$tmp/$part" 99)"
  echo "${part}_swaps_max_ms=$(pct "$tmp/$part" 100)"
done
echo "model=$version rate=$rate swaps=$swaps"
