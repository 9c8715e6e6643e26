#!/usr/bin/env bash
# Validates docker-compose.yml offline (no Docker engine needed): the compose
# file must parse and resolve (`docker-compose config`), and every process
# `make run` starts (scripts/run.sh) must be a compose service, so the two
# ways of running the product stay in step.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v docker-compose >/dev/null || { echo "docker-compose is required: apt-get install docker-compose" >&2; exit 1; }
docker-compose -f docker-compose.yml config -q
services="$(docker-compose -f docker-compose.yml config --services)"
missing=0
for name in $(grep -oP '^start \K[a-z0-9-]+' scripts/run.sh); do
  if ! grep -qx "$name" <<<"$services"; then
    echo "ERROR: make run starts '$name' but docker-compose.yml has no such service" >&2
    missing=1
  fi
done
[ "$missing" = 0 ]
echo "compose-validate: docker-compose.yml is valid and has every service of make run ($(grep -c . <<<"$services") services)"
