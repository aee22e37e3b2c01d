#!/usr/bin/env bash
# Exactly-once event export under kill -9, through the real binary on the committed tiny model:
# a client posts batches of events with event ids (retrying each batch with the same ids until it
# is acknowledged) while `vrec serve` exports every 100 ms; the server is killed with SIGKILL
# ~20 times at random points (mid-append, mid-segment-write, mid-rename) and restarted. At the end
# (a clean stop, whose last round exports the rest, then `vrec events export --once`), the union of
# the segments holds every acknowledged event exactly once and no event twice.
# Usage: event_export_crash_test.sh path/to/vrec source-root
set -euo pipefail

vrec=$1
root=$2
cycles=${VREC_CRASH_CYCLES:-20}
batch=10
source "$(dirname "$0")/serve_test_lib.sh"
printf '[registry]\npoll_interval = "100ms"\n[events]\nexport_interval = "100ms"\nhousekeeping_interval = "100ms"\n' \
  > "$tmp/vrec.toml"

# Posts batches of $batch events; a batch is retried (same event ids) until the server
# acknowledges it, then its ids are appended to acked.txt.
client() {
  local n=0
  while true; do
    local body="{\"events\":[" i ids=""
    for i in $(seq 1 $batch); do
      body+="{\"user_id\":$(( (n * batch + i) % 97 + 1 )),\"video_id\":$(( (n + i) % 150 + 1 )),\"type\":\"play\",\"watch_ratio\":0.5,\"event_id\":\"b$n-$i\"}"
      [ "$i" -lt $batch ] && body+=","
      ids+="b$n-$i"$'\n'
    done
    body+="]}"
    post_until_acked "$body" "\"accepted\":$batch"
    printf '%s' "$ids" >> "$tmp/acked.txt"
    n=$((n + 1))
  done
}

: > "$tmp/acked.txt"
kill_cycles "$cycles" client
# A clean stop exports what was acknowledged; the CLI then finds nothing left (and would fail on
# overlapping segments).
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
"$vrec" events export --registry "$reg" --config "$tmp/vrec.toml" --once > "$tmp/export.out" 2>&1 \
  || { cat "$tmp/export.out"; fail "vrec events export"; }
grep -q "events_exported=0 " "$tmp/export.out" || { cat "$tmp/export.out"; fail "the server's last round left events"; }

segments=$(find "$reg/events" -name 'events-*.csv.gz' | wc -l)
[ "$segments" -gt 0 ] || fail "no segments"
find "$reg/events" -name '*.tmp' | grep -q . && fail "temporary files left: $(find "$reg/events" -name '*.tmp')"
# The event id is the last column; ids here need no quoting.
for f in $(find "$reg/events" -name 'events-*.csv.gz' | sort); do
  zcat "$f" | tail -n +2 | awk -F, '{print $NF}'
done > "$tmp/exported.txt"
sort "$tmp/exported.txt" > "$tmp/exported.sorted"
sort "$tmp/acked.txt" > "$tmp/acked.sorted"
duplicated=$(uniq -d "$tmp/exported.sorted" | wc -l)
lost=$(comm -23 "$tmp/acked.sorted" <(uniq "$tmp/exported.sorted") | wc -l)
acked=$(wc -l < "$tmp/acked.sorted")
exported=$(wc -l < "$tmp/exported.sorted")
[ "$acked" -ge $((cycles * batch)) ] || fail "only $acked events were acknowledged in $cycles cycles"
[ "$duplicated" -eq 0 ] || fail "$duplicated events exported more than once: $(uniq -d "$tmp/exported.sorted" | head -5)"
[ "$lost" -eq 0 ] || fail "$lost acknowledged events missing from the segments: $(comm -23 "$tmp/acked.sorted" <(uniq "$tmp/exported.sorted") | head -5)"
echo "export crash: cycles=$cycles segments=$segments acknowledged_events=$acked exported_events=$exported lost=0 duplicated=0"
