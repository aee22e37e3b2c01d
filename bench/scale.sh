#!/usr/bin/env bash
# How cost grows with the catalog: for each synthetic platform size, the pipeline (time, peak RSS,
# model size on disk), `vrec serve` start-up (process start -> /readyz 200, RSS when ready), the
# latency at 1000 req/s and the saturation rate. Prints name=value lines prefixed by the size, then
# a Markdown table (the README's "How cost grows").
#
#   bash bench/scale.sh [SIZES...]      (default: small large xlarge = 10k, 100k, 1M videos)
# Env: WORK (scratch folder, default /tmp/vrec-scale; a size's registry there is reused when it
#      has a production model, REUSE=0 retrains), RATE (1000), DURATION (20 s).
#
# Sizes are those of `vrec pipeline run --synthetic`: small = 5k users, 10k videos, 400k events;
# large = 100k users, 100k videos, 5M events; xlarge = 100k users, 1M videos, 10M events. The 1M
# pipeline takes about half an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(small large xlarge)
work=${WORK:-/tmp/vrec-scale}
rate=${RATE:-1000}
export DURATION=${DURATION:-20}
source scripts/env.sh
mkdir -p "$work"

get() { sed -n "s/^$2=//p" "$1" | tail -1; }
rows=()
for size in "${sizes[@]}"; do
  reg="$work/$size"
  out="$work/$size.pipeline.out"
  if [ "${REUSE:-1}" = 0 ] || [ ! -s "$reg/production" ] || [ ! -s "$out" ]; then
    rm -rf "$reg"
    echo "# $size: pipeline" >&2
    /usr/bin/time -f $'wall_s=%e\nmax_rss_kib=%M' -o "$work/$size.time" \
      build/vrec pipeline run --registry "$reg" --synthetic "$size" --config configs/vrec.toml > "$out" 2> "$work/$size.pipeline.err"
  fi
  version=$(head -1 "$reg/production" | tr -d '[:space:]')
  pipeline_s=$(get "$work/$size.time" wall_s)
  pipeline_rss=$(( $(get "$work/$size.time" max_rss_kib) / 1024 ))
  model_mib=$(du -sm "$reg/versions/$version" | cut -f1)
  echo "# $size: start-up" >&2
  bash bench/serve_start.sh "$reg" 5 > "$work/$size.start"
  echo "# $size: load" >&2
  bash bench/serve_load.sh "$reg" "$rate" > "$work/$size.load"
  start_s=$(get "$work/$size.start" serve_start_s_median)
  rss=$(get "$work/$size.start" serve_start_rss_mib)
  p50=$(get "$work/$size.load" "rate${rate}_p50_ms")
  p99=$(get "$work/$size.load" "rate${rate}_p99_ms")
  errors=$(( $(get "$work/$size.load" "rate${rate}_errors_http") + $(get "$work/$size.load" "rate${rate}_errors_conn") + $(get "$work/$size.load" "rate${rate}_timeouts") ))
  saturation=$(get "$work/$size.load" saturation_rate)
  videos=$(($(wc -l < "$reg/versions/$version/catalog/videos.csv") - 1))
  for kv in videos="$videos" pipeline_s="$pipeline_s" pipeline_peak_rss_mib="$pipeline_rss" \
    model_dir_mib="$model_mib" serve_start_s="$start_s" serve_rss_mib="$rss" "p50_ms_at_$rate=$p50" \
    "p99_ms_at_$rate=$p99" "errors_at_$rate=$errors" saturation_rate="$saturation"; do
    echo "$size.$kv"
  done
  rows+=("| $videos | $pipeline_s s ($pipeline_rss MiB) | $model_mib MiB | $start_s s | $rss MiB | $p50 / $p99 ms ($errors errors) | $saturation/s |")
done
echo
echo "| videos | pipeline (peak RSS) | model on disk | start -> ready | RSS when ready | p50 / p99 at $rate/s | saturation |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
