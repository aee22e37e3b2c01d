# Shared by the shell tests that drive a real `vrec serve` over the committed tiny model
# (serve_crash_test.sh, event_export_crash_test.sh). Source it after setting:
#   vrec   the binary under test        root   the source root
# It creates $tmp (removed at exit, with the server and the client killed), a registry $reg
# holding tests/testdata/serving_model_v1 as production v000001, and defines:
#   fail MESSAGE            print and exit 1
#   start_server            vrec serve --config $tmp/vrec.toml on a free port; waits for /readyz;
#                           the port goes to $port and, atomically, to $tmp/port
#   post_until_acked BODY PATTERN
#                           POSTs BODY to /v1/events of the server in $tmp/port until the reply
#                           holds PATTERN (the server may be down or restarting meanwhile)
#   kill_cycles N CLIENT    runs the function CLIENT in the background and kills the server with
#                           SIGKILL N times at random moments (0.2-0.6 s apart), restarting it each
#                           time; then stops the client. The server is left running.
tmp=$(mktemp -d)
server_pid=""
client_pid=""
cleanup() {
  [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A registry holding the tiny model as v000001, laid out as registry.h documents.
reg="$tmp/registry"
mkdir -p "$reg/versions"
cp -r "$root/tests/testdata/serving_model_v1" "$reg/versions/v000001"
echo v000001 > "$reg/production"

start_server() {
  : > "$tmp/serve.out"
  "$vrec" serve --registry "$reg" --config "$tmp/vrec.toml" --port 0 > "$tmp/serve.out" 2>> "$tmp/serve.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.out")
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; then
      echo "$port" > "$tmp/port.new" && mv "$tmp/port.new" "$tmp/port"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/serve.err"; fail "server exited"; }
    sleep 0.05
  done
  fail "server not ready"
}

post_until_acked() {
  local body=$1 pattern=$2 port reply
  while true; do
    port=$(cat "$tmp/port" 2>/dev/null || true)
    reply=$(curl -s -m 2 -X POST -H 'Content-Type: application/json' -d "$body" \
            "http://127.0.0.1:$port/v1/events" 2>/dev/null || true)
    [[ "$reply" == *"$pattern"* ]] && return 0
    sleep 0.02
  done
}

kill_cycles() {
  local cycles=$1 client=$2 cycle
  start_server
  "$client" &
  client_pid=$!
  for cycle in $(seq 1 "$cycles"); do
    sleep "0.$(( RANDOM % 5 + 2 ))"
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    start_server
  done
  sleep 0.5
  kill "$client_pid"
  wait "$client_pid" 2>/dev/null || true
  client_pid=""
}
