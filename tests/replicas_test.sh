#!/usr/bin/env bash
# Two `vrec serve` replicas on one redis-server behind HAProxy (deploy/haproxy.cfg), on the
# committed tiny model, through the real binaries:
#   1. a takedown through one replica is honoured by the other on its next request;
#   2. an event posted through one replica changes the next recommendation of the other (read
#      after write), and its retry through the other is a duplicate;
#   3. an upload through the load balancer is served by both replicas;
#   4. one replica exports the shared log, the other stands by; kill -9 of the exporter: the other
#      takes over and the segments hold every acknowledged event exactly once;
#   5. with one replica killed, HAProxy keeps answering through the other;
#   6. with redis-server killed, recommendations keep flowing (degraded) and events get 503; once
#      it is back, events are acknowledged again and recommendations are no longer degraded.
# Exits 77 (skipped) without haproxy or redis-server.
# Usage: replicas_test.sh path/to/vrec source-root
set -euo pipefail

vrec=$1
root=$2
for bin in haproxy redis-server redis-cli curl jq; do
  command -v "$bin" > /dev/null || { echo "SKIP: $bin not installed (scripts/setup.sh installs it)"; exit 77; }
done

tmp=$(mktemp -d)
source "$(dirname "$0")/replicas_lib.sh"
trap 'stop_all; rm -rf "$tmp"' EXIT

reg="$tmp/registry"
mkdir -p "$reg/versions"
cp -r "$root/tests/testdata/serving_model_v1" "$reg/versions/v000001"
echo v000001 > "$reg/production"

start_redis

# Both replicas read one config: the shared store, a long cache TTL (a stale answer would show),
# export every 200 ms into the registry's default export folder (shared: one exporter at a time).
cat > "$tmp/vrec.toml" << EOF
[registry]
poll_interval = "100ms"
[feature_store]
uri = "redis://127.0.0.1:$redis_port/0"
[cache]
ttl = "30s"
[events]
export_interval = "200ms"
EOF

start_replica one "$tmp/vrec.toml"
start_replica two "$tmp/vrec.toml"
url() { echo "http://127.0.0.1:${replica_port[$1]}"; }

start_haproxy both "${replica_port[one]}" "${replica_port[two]}"
lb=${lb_url[both]}

recs() { curl -sf "$1/v1/users/3/recommendations?count=20" | jq -r '.items[].video_id'; }

# 1. Takedown through one, honoured by the other on its next request (its answer was cached).
before=$(recs "$(url two)")
[ "$(recs "$(url two)")" = "$before" ] || fail "two answers of replica two differ"
top=$(echo "$before" | head -1)
curl -sf -X POST -d '{"available":false}' "$(url one)/v1/admin/videos/$top" > /dev/null
after=$(recs "$(url two)")
echo "$after" | grep -qx "$top" && fail "replica two still recommends video $top taken down through replica one"
[ "$(curl -sf "$(url two)/v1/videos/$top" | jq -r .available)" = false ] || fail "replica two shows $top available"

# 2. Read after write across replicas, and one dedupe for both.
watched=$(echo "$after" | head -1)
event="{\"user_id\":3,\"video_id\":$watched,\"type\":\"play\",\"event_id\":\"replicas-1\"}"
[ "$(curl -sf -X POST -d "$event" "$(url one)/v1/events" | jq .stored)" = 1 ] || fail "event not stored"
recs "$(url two)" | grep -qx "$watched" && fail "replica two recommends video $watched just watched through replica one"
for _ in 1 2; do  # through the load balancer: both replicas in turn
  recs "$lb" | grep -qx "$watched" && fail "a replica behind haproxy recommends the watched video $watched"
done
[ "$(curl -sf -X POST -d "$event" "$(url two)/v1/events" | jq .duplicates)" = 1 ] ||
  fail "the retry through replica two was stored again"

# 3. An upload through the load balancer is served by both replicas.
curl -sf -X PUT -d '{"title":"Uploaded behind haproxy","categories":["Film"],"language":"en"}' \
  "$lb/v1/videos/900001" > /dev/null
for r in one two; do
  recs "$(url $r)" > /dev/null  # the next recommendation applies changes from the other replica
  [ "$(curl -sf "$(url $r)/v1/videos/900001" | jq -r .title)" = "Uploaded behind haproxy" ] ||
    fail "replica $r does not serve the upload"
done

# 4. One exporter, a standby, and a takeover after kill -9 of the exporter.
active() { curl -sf "$(url "$1")/metrics" | sed -n 's/^vrec_events_exporter_active \([0-9]*\).*/\1/p'; }
for _ in $(seq 1 50); do
  [ "$(active one)$(active two)" = 10 ] || [ "$(active one)$(active two)" = 01 ] && break
  sleep 0.1
done
case "$(active one)$(active two)" in
  10) exporter=one standby=two ;;
  01) exporter=two standby=one ;;
  *) fail "expected one exporter and one standby, got one=$(active one) two=$(active two)" ;;
esac
post_batch() {  # 5 events of user $2 with ids $2-1..5 through replica $1
  local body="{\"events\":[" i
  for i in 1 2 3 4 5; do
    body+="{\"user_id\":$2,\"video_id\":$i,\"type\":\"play\",\"event_id\":\"u$2-$i\"}"
    [ "$i" -lt 5 ] && body+=","
  done
  curl -sf -X POST -d "$body]}" "$(url "$1")/v1/events" | jq -e '.accepted == 5' > /dev/null
}
for u in $(seq 7000 7009); do post_batch "$exporter" "$u"; post_batch "$standby" "$((u + 100))"; done
sleep 0.5
kill -9 "${replica_pid[$exporter]}"
for u in $(seq 7200 7209); do post_batch "$standby" "$u"; done
for _ in $(seq 1 100); do [ "$(active "$standby")" = 1 ] && break; sleep 0.1; done
[ "$(active "$standby")" = 1 ] || fail "replica $standby did not take over the export"
last=151  # every event stored: the one of step 2 and these 150
for _ in $(seq 1 100); do
  through=$(curl -sf "$(url "$standby")/metrics" | sed -n 's/^vrec_events_exported_through \([0-9]*\).*/\1/p')
  [ "${through:-0}" -ge "$last" ] && break
  sleep 0.1
done
[ "${through:-0}" -ge "$last" ] || fail "export stopped at ${through:-?} of $last events"
exported=$(find "$reg" -name 'events-*.csv.gz' -exec zcat {} + | grep -c ',u7[0-9]*-[1-5]$' || true)
unique=$(find "$reg" -name 'events-*.csv.gz' -exec zcat {} + | grep -o ',u7[0-9]*-[1-5]$' | sort -u | wc -l)
[ "$exported" = 150 ] && [ "$unique" = 150 ] ||
  fail "segments hold $exported events ($unique distinct) of the 150 acknowledged"

# 5. The load balancer routes around the dead replica.
for _ in $(seq 1 4); do
  curl -sf "$lb/v1/users/3/recommendations?count=5" > /dev/null || fail "haproxy failed a request with one replica down"
done
# 6. Redis killed under the replica left, then restarted on its data.
kill -9 "$redis_pid"
wait "$redis_pid" 2> /dev/null || true
reply=$(curl -s "$lb/v1/users/3/recommendations?count=5")
[ "$(echo "$reply" | jq .degraded)" = true ] || fail "no degraded answer without redis: $reply"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"user_id":3,"video_id":2,"type":"play","event_id":"down-1"}' "$lb/v1/events")
[ "$code" = 503 ] || fail "an event was answered $code without redis"
start_redis
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"user_id":3,"video_id":2,"type":"play","event_id":"down-1"}' "$lb/v1/events")
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || fail "events still answered $code after redis came back"
reply=$(curl -s "$lb/v1/users/3/recommendations?count=5")
[ "$(echo "$reply" | jq .degraded)" = null ] || fail "still degraded after redis came back: $reply"
[ "$(curl -sf "$lb/v1/users/3/history" | jq '[.events[] | select(.video_id == "2")] | length')" -ge 1 ] ||
  fail "the event acknowledged after the restart is not in the history"

echo "replicas_test: ok (redis $redis_port, replicas ${replica_port[one]} ${replica_port[two]}, haproxy $lb)"
