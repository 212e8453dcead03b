#!/usr/bin/env bash
# Makes sure the brokers the tests use run on loopback: Redis on 127.0.0.1:6379 and NATS with
# JetStream on 127.0.0.1:4222 (installed from Debian's packages when missing, started when down; Redis
# without persistence, NATS in the background).
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

# NATS with JetStream on 127.0.0.1:4222 (Debian's `nats-server`).
NATS_PORT=${NATS_PORT:-4222}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! command -v nats-server >/dev/null; then
  echo "start-brokers: apt-get install nats-server"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
fi

if ! port_open "$NATS_PORT"; then
  echo "start-brokers: starting nats-server -js on 127.0.0.1:$NATS_PORT"
  NATS_DIR=${TMPDIR:-/tmp}/dapr-rs-nats
  mkdir -p "$NATS_DIR"
  nohup nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$NATS_DIR" >"$NATS_DIR/nats-server.log" 2>&1 &
  for _ in $(seq 50); do
    port_open "$NATS_PORT" && break
    sleep 0.1
  done
  port_open "$NATS_PORT" || { echo "start-brokers: nats-server did not start (see $NATS_DIR/nats-server.log)" >&2; exit 1; }
fi
