#!/usr/bin/env bash
# The main job: installs what is missing, builds, generates a synthetic video platform, runs the
# training pipeline (train -> evaluate -> gates -> register -> promote), starts `vrec serve` on
# localhost in the background and prints a ready-to-paste curl.
#
# Environment: VREC_HOME (state: registry, online store, logs; default ./vrec-home),
# VREC_PORT (default 8080), VREC_SYNTHETIC (platform size: small, medium, large or UxVxR; default
# small), VREC_CONFIG (a config file for the pipeline and the server; default configs/vrec.toml),
# VREC_LOOP=0 (skip the last step: scripts/loop.sh, the loop from an upload and events back to a
# retrained version), VREC_STORE=redis (keep the online state in a local redis-server that this
# script starts, data in $VREC_HOME/redis, port VREC_REDIS_PORT or 6390, with the persistence
# settings of docs/redis.md; default: RocksDB in the registry).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build.sh release

home=${VREC_HOME:-$PWD/vrec-home}
port=${VREC_PORT:-8080}
size=${VREC_SYNTHETIC:-small}
config=${VREC_CONFIG:-configs/vrec.toml}
mkdir -p "$home"

# A server left running by an earlier run is stopped first (it would hold the online store).
if [ -f "$home/serve.pid" ] && kill -0 "$(cat "$home/serve.pid")" 2>/dev/null; then
  echo "main: stopping the server started earlier (pid $(cat "$home/serve.pid"))"
  kill "$(cat "$home/serve.pid")"
  for _ in $(seq 1 100); do kill -0 "$(cat "$home/serve.pid")" 2>/dev/null || break; sleep 0.1; done
fi

if [ "${VREC_STORE:-rocksdb}" = "redis" ]; then
  redis_port=${VREC_REDIS_PORT:-6390}
  mkdir -p "$home/redis"
  if ! redis-cli -p "$redis_port" ping > /dev/null 2>&1; then
    # Every acknowledged write fsynced before the reply (docs/redis.md): kill -9 loses nothing.
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$home/redis" --appendonly yes \
      --appendfsync always --save '' --daemonize yes --pidfile "$home/redis/redis.pid" \
      --logfile "$home/redis/redis.log"
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.1; done
  fi
  redis-cli -p "$redis_port" ping > /dev/null || { cat "$home/redis/redis.log"; echo "main: redis-server did not start" >&2; exit 1; }
  export VREC_FEATURE_STORE_URI="redis://127.0.0.1:$redis_port/0"
  echo "main: online state in redis-server on port $redis_port (pid $(cat "$home/redis/redis.pid" 2>/dev/null || echo '?'), data $home/redis)"
fi

# Train, evaluate, gate and deploy. A gate failure leaves the previous production model serving.
./build/vrec pipeline run --registry "$home/registry" --synthetic "$size" --config "$config" || {
  status=$?
  ./build/vrec models list --registry "$home/registry" > /dev/null 2>&1 || exit $status
  echo "main: the pipeline deployed nothing (exit $status); serving the current production model if any"
}
./build/vrec models list --registry "$home/registry"

# The server keeps running after this script ends; its log is $home/serve.log.
nohup ./build/vrec serve --registry "$home/registry" --config "$config" --port "$port" \
  > "$home/serve.log" 2>&1 &
echo $! > "$home/serve.pid"
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  if ! kill -0 "$(cat "$home/serve.pid")" 2>/dev/null; then
    cat "$home/serve.log"
    echo "main: the server exited" >&2
    exit 1
  fi
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz"
echo
version=$(head -1 "$home/registry/production" | tr -d '[:space:]')
user=$(sed -n '2p' "$home/registry/versions/$version/catalog/users.csv" | cut -d, -f1)
user=${user:-1}
echo
echo "vrec is serving on http://127.0.0.1:$port (pid $(cat "$home/serve.pid"), log $home/serve.log)."
echo "Recommendations for user $user:"
echo
echo "  curl -s 'http://127.0.0.1:$port/v1/users/$user/recommendations?count=10'"
echo
curl -s "http://127.0.0.1:$port/v1/users/$user/recommendations?count=10"
echo

# The loop from events back to training on the running server (VREC_LOOP=0 skips it).
if [ "${VREC_LOOP:-1}" != "0" ]; then
  bash scripts/loop.sh "$home" "$port" "$config"
fi
echo
echo "Stop it with: kill \$(cat $home/serve.pid)"
if [ "${VREC_STORE:-rocksdb}" = "redis" ]; then
  echo "and its redis-server with: redis-cli -p $redis_port shutdown"
fi
