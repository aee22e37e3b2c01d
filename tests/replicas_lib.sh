# Starts the parts of a scaled-out deployment on this machine: one redis-server, N `vrec serve`
# replicas on it, HAProxy in front (deploy/haproxy.cfg). Shared by tests/replicas_test.sh and
# bench/replicas_bench.sh. Source it after setting:
#   vrec   the binary      root   the source root      tmp   a scratch folder (removed by the caller)
# and call `trap stop_all EXIT`. Defines:
#   fail MESSAGE                 prints, with the tails of the parts' logs, and exits 1
#   free_port                    a loopback TCP port nobody listens on
#   start_redis                  redis-server with AOF fsync always (docs/redis.md); port in
#                                $redis_port (kept by a second call: a restart), pid in $redis_pid
#   start_replica NAME CONFIG    vrec serve --config CONFIG on a free port, waits for /readyz;
#                                pid and port in replica_pid[NAME], replica_port[NAME]
#   start_haproxy NAME A [B]     HAProxy on a free port in front of replica ports A and B (B = A:
#                                one replica); URL in lb_url[NAME]
#   stop_all                     kills everything started
pids=()
declare -A replica_pid replica_port lb_url

stop_all() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
}

fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.err; do
    echo "== $f" >&2
    grep -v '"msg":"request"' "$f" | tail -5 >&2
  done
  exit 1
}

free_port() {
  local p
  while true; do
    p=$((20000 + RANDOM % 40000))
    (echo > "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
  done
}

# A port picked by free_port may be taken by another process before the server binds it (tests
# run in parallel): a server that exits at once is started again on another port.
start_redis() {  # on $redis_port when set (a restart: same port, same data), else a free port
  local fixed=${redis_port:-} attempt
  mkdir -p "$tmp/redis"
  for attempt in 1 2 3 4 5; do
    redis_port=${fixed:-$(free_port)}
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes \
      --appendfsync always --save "" >> "$tmp/redis.err" 2>&1 &
    redis_pid=$!
    pids+=($!)
    for _ in $(seq 1 100); do
      redis-cli -p "$redis_port" ping > /dev/null 2>&1 && return 0
      kill -0 "$redis_pid" 2> /dev/null || break
      sleep 0.05
    done
  done
  fail "redis-server did not start"
}

start_replica() {
  local name=$1 config=$2 port
  : > "$tmp/$name.out"
  "$vrec" serve --registry "$reg" --config "$config" --port 0 > "$tmp/$name.out" 2> "$tmp/$name.err" &
  replica_pid[$name]=$!
  pids+=($!)
  for _ in $(seq 1 1200); do
    port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/$name.out")
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; then
      replica_port[$name]=$port
      return 0
    fi
    kill -0 "${replica_pid[$name]}" 2> /dev/null || fail "replica $name exited"
    sleep 0.05
  done
  fail "replica $name not ready"
}

start_haproxy() {
  local name=$1 a=$2 b=${3:-$2} port pid attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    VREC_LB_BIND="127.0.0.1:$port" VREC_REPLICA1="127.0.0.1:$a" VREC_REPLICA2="127.0.0.1:$b" \
      haproxy -db -f "$root/deploy/haproxy.cfg" >> "$tmp/haproxy-$name.err" 2>&1 &
    pid=$!
    pids+=($pid)
    lb_url[$name]="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      curl -sf "${lb_url[$name]}/readyz" > /dev/null && return 0
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
  done
  fail "haproxy $name does not answer"
}
