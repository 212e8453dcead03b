#!/usr/bin/env bash
# Makes sure the brokers the tests use run on loopback: Redis on 127.0.0.1:6379 (installed from
# Debian's `redis-server` package when missing, started without persistence when down).
# Idempotent; called by scripts/install-deps.sh, so `make test` and `make deps` run it.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "start-brokers: apt-get install redis-server"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "start-brokers: starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { echo "start-brokers: redis-server did not start" >&2; exit 1; }
fi
