#!/usr/bin/env bash
# Makes sure the brokers the tests use run on loopback: Redis on 127.0.0.1:6379, NATS with
# JetStream on 127.0.0.1:4222, RabbitMQ on 127.0.0.1:5672 (guest/guest) and Mosquitto on
# 127.0.0.1:1883 (installed from Debian's packages when missing, started when down; Redis without
# persistence, NATS in the background).
# Idempotent; called by scripts/install-deps.sh, so `make test` and `make deps` run it.
set -euo pipefail

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# Installs Debian packages (quietly; with sudo unless root).
apt_install() {
  echo "start-brokers: apt-get install $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

REDIS_PORT=${REDIS_PORT:-6379}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt_install redis-server redis-tools
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
  apt_install nats-server
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

# RabbitMQ on 127.0.0.1:5672, guest/guest (Debian's `rabbitmq-server`; guest may log in from loopback only).
RABBITMQ_PORT=5672

if ! command -v rabbitmq-server >/dev/null || ! command -v rabbitmqctl >/dev/null; then
  apt_install rabbitmq-server
fi

if ! port_open "$RABBITMQ_PORT"; then
  echo "start-brokers: starting rabbitmq-server on 127.0.0.1:$RABBITMQ_PORT"
  # Debian's wrapper runs the node as the rabbitmq user (it must be started as root or rabbitmq).
  $SUDO env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBITMQ_PORT rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 120); do
    port_open "$RABBITMQ_PORT" && break
    sleep 0.5
  done
  port_open "$RABBITMQ_PORT" || { echo "start-brokers: rabbitmq-server did not listen on $RABBITMQ_PORT (see /var/log/rabbitmq/)" >&2; exit 1; }
fi
# The port opens before the broker accepts logins and declarations.
timeout 60 $SUDO rabbitmqctl await_startup >/dev/null 2>&1 \
  || { echo "start-brokers: rabbitmq-server did not finish starting (rabbitmqctl await_startup)" >&2; exit 1; }

# Mosquitto on 127.0.0.1:1883 (Debian's `mosquitto`).
MOSQUITTO_PORT=${MOSQUITTO_PORT:-1883}

if ! command -v mosquitto >/dev/null; then
  apt_install mosquitto
fi

if ! port_open "$MOSQUITTO_PORT"; then
  echo "start-brokers: starting mosquitto on 127.0.0.1:$MOSQUITTO_PORT"
  MOSQUITTO_CONF=/etc/mosquitto/mosquitto.conf
  if ! grep -Eq "^listener[[:space:]]+$MOSQUITTO_PORT([[:space:]]|$)" "$MOSQUITTO_CONF" 2>/dev/null; then
    # The package's file (persistence, logs) names no listener on that port: a file of our own,
    # loopback only, anonymous clients as on the test machines.
    MOSQUITTO_CONF=${TMPDIR:-/tmp}/dapr-rs-mosquitto-$MOSQUITTO_PORT.conf
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$MOSQUITTO_PORT" >"$MOSQUITTO_CONF"
  fi
  # The package's file writes its pid under /run/mosquitto, which a reboot empties.
  $SUDO mkdir -p /run/mosquitto 2>/dev/null || true
  mosquitto -d -c "$MOSQUITTO_CONF"
  for _ in $(seq 50); do
    port_open "$MOSQUITTO_PORT" && break
    sleep 0.1
  done
  port_open "$MOSQUITTO_PORT" || { echo "start-brokers: mosquitto did not listen on $MOSQUITTO_PORT" >&2; exit 1; }
fi
