#!/usr/bin/env bash
# Runs the whole product on this machine: nats-server (JetStream), the vendor
# sandbox and every service, with data under var/. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
VAR="$ROOT/var"
mkdir -p "$VAR/nats" "$VAR/sandbox" "$VAR/logs"

cat > "$VAR/nats.conf" <<CONF
listen: "127.0.0.1:4222"
http: "127.0.0.1:8222"
server_name: crmerp-dev
jetstream {
  store_dir: "$VAR/nats"
  # fsync before every PubAck: an acknowledged event survives power loss.
  sync_interval: always
}
CONF

pids=()
stopping=""
stop() {
  stopping=1
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped. Data is kept in $VAR."
}
trap stop INT TERM EXIT

start() { # name, command...
  local name="$1"; shift
  "$@" >>"$VAR/logs/$name.log" 2>&1 &
  pids+=("$!")
}

wait_for() { # name, url
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not become ready; see $VAR/logs/$1.log" >&2
  exit 1
}

export CRMERP_CONFIG="$ROOT/config/dev.toml"
start nats "$ROOT/.venv/bin/nats-server" -c "$VAR/nats.conf"
wait_for nats http://127.0.0.1:8222/healthz
start sandbox "$BIN/crmerp-sandbox" --state-dir "$VAR/sandbox" \
  --webhook-target http://127.0.0.1:8080/webhooks/hubspot
start ingress "$BIN/ingress"
start deal-to-order "$BIN/deal-to-order"
wait_for ingress http://127.0.0.1:8080/readyz
wait_for deal-to-order http://127.0.0.1:8090/readyz

cat <<INFO

crmerp is running. Logs: $VAR/logs/. Data: $VAR/.

  ingress            http://127.0.0.1:8080   (POST /webhooks/hubspot, /healthz, /readyz, /metrics)
  deal-to-order      http://127.0.0.1:8090   (admin: /healthz, /readyz, /metrics)
  sandbox HubSpot    http://127.0.0.1:9101   (token pat-na1-dev-token)
  sandbox NetSuite   http://127.0.0.1:9201   (account 1234567_SB1, TBA)
  NATS               nats://127.0.0.1:4222   (monitoring http://127.0.0.1:8222)

Try it: make demo        Stop: Ctrl-C
INFO

# Stop everything as soon as any process exits.
wait -n "${pids[@]}" || true
if [ -z "$stopping" ]; then
  echo "A process exited; see $VAR/logs/. Stopping the rest." >&2
fi
