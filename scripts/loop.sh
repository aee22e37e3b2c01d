#!/usr/bin/env bash
# The living platform, shown on a running `vrec serve` (the main job's last step): upload a video
# through the catalog API and see it recommended at once; post events and see them in the user's
# history and the video's fields; wait until the server has exported them; retrain from the
# production snapshot plus everything exported since (`vrec pipeline run --platform`, through the
# same gates); the server swaps the new version in, and its snapshot includes the upload.
#
# Usage: loop.sh HOME PORT CONFIG   (the main job's state folder, server port and config file)
set -euo pipefail
cd "$(dirname "$0")/.."
home=$1
port=$2
config=$3
registry="$home/registry"
api="http://127.0.0.1:$port"
say() { printf '\nloop: %s\n' "$*"; }
get() { curl -sf "$api$1"; }

version=$(head -1 "$registry/production" | tr -d '[:space:]')
users="$registry/versions/$version/catalog/users.csv"
user=$(sed -n '2p' "$users" | cut -d, -f1)
language=$(sed -n '2p' "$users" | cut -d, -f3)
language=${language:-en}
# The upload: in the category of what the user is recommended most, in the user's language.
top=$(get "/v1/users/$user/recommendations?count=1" | jq -r '.items[0].video_id')
category=$(get "/v1/videos/$top" | jq -c '.categories[:1]')
video=$(($(tail -n +2 "$registry/versions/$version/catalog/videos.csv" | cut -d, -f1 | sort -n | tail -1) + 1))
[ -n "$(get "/v1/videos/$video" 2> /dev/null || true)" ] && video=$((video + 1000))  # a rerun: a new id
newcomer=$((900000000 + RANDOM))  # a user the platform has never seen, of the same language

say "upload video $video ($category, language $language) through the catalog API"
curl -sf -X PUT -H 'Content-Type: application/json' "$api/v1/videos/$video" \
  -d "{\"title\":\"Uploaded by the main job\",\"categories\":$category,\"tags\":[\"demo\"],\"language\":\"$language\",\"duration_s\":120}"
echo
say "a new user of language $language is offered it at once, as a fresh video:"
echo "  curl -s '$api/v1/users/$newcomer/recommendations?language=$language&count=6'"
get "/v1/users/$newcomer/recommendations?language=$language&count=6" |
  jq -c --arg v "$video" '[.items[] | {video_id, reason, uploaded: (.video_id == $v)}]'

# Events: every user of the first 300 plays the upload; a third like it.
say "post 300 events on video $video (plays and likes, with event ids: a retry stores nothing twice)"
run=$(date +%s)
body='{"events":['
for i in $(seq 2 301); do
  u=$(sed -n "${i}p" "$users" | cut -d, -f1)
  [ -n "$u" ] || continue
  type=play
  [ $((i % 3)) -eq 0 ] && type=like
  body+="{\"user_id\":$u,\"video_id\":$video,\"type\":\"$type\",\"watch_ratio\":0.95,\"event_id\":\"loop-$run-$i\"},"
done
body="${body%,}]}"
curl -sf -X POST -H 'Content-Type: application/json' "$api/v1/events" -d "$body"
echo
curl -sf -X POST -H 'Content-Type: application/json' "$api/v1/events" -d "$body"
echo "  (the same batch again)"
say "user $user's history now starts with it:"
get "/v1/users/$user/history" | jq -c '.events[:2]'
say "the video as the server sees it now:"
get "/v1/videos/$video" | jq -c .

# The server exports acknowledged events (events.export_interval) and, at housekeeping
# (events.housekeeping_interval), the catalog records to <registry>/events/catalog/.
say "waiting for the server to export the events and the upload"
for _ in $(seq 1 600); do
  lag=$(get /metrics | sed -n 's/^vrec_events_export_lag \([0-9.e+]*\)$/\1/p')
  [ "$lag" = 0 ] && zcat "$registry/events/catalog/videos.csv.gz" 2> /dev/null | grep -q "^$video," && break
  sleep 0.1
done
echo "  $(get /metrics | grep '^vrec_events_exported_through ')," \
  "catalog: $(zcat "$registry/events/catalog/videos.csv.gz" | grep -c .) lines"

say "retrain from the production snapshot + the exported events and catalog updates"
./build/vrec pipeline run --registry "$registry" --platform --config "$config" || {
  echo "loop: the gates refused the new version; production is unchanged"
  exit 0
}
next=$(head -1 "$registry/production" | tr -d '[:space:]')
for _ in $(seq 1 300); do
  get /readyz | grep -q "\"model_version\":\"$next\"" && break
  sleep 0.1
done
say "the server swapped $next in; the upload is in its snapshot now:"
grep -q "^$video," "$registry/versions/$next/catalog/videos.csv" &&
  echo "  $registry/versions/$next/catalog/videos.csv: $(grep "^$video," "$registry/versions/$next/catalog/videos.csv")"
get "/v1/videos/$video" | jq -c '{video_id, source, snapshot_positives}'
get /readyz
echo
