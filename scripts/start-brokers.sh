#!/usr/bin/env bash
# Makes sure the brokers the tests use run on loopback: Redis on 127.0.0.1:6379, NATS with
# JetStream on 127.0.0.1:4222, RabbitMQ on 127.0.0.1:5672 (guest/guest) and Mosquitto on
# 127.0.0.1:1883 (installed from Debian's packages when missing, started when down; Redis without
# persistence, NATS in the background), and Apache Kafka 4 on 127.0.0.1:9092 (its jars from Maven
# Central into a cache outside the clone, once: scripts/kafka/kafka.sh).
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
  # Up to 30 s: JetStream recovers every stream kept in $NATS_DIR before it listens, which took
  # over 5 s on a loaded machine with a long-lived store.
  for _ in $(seq 300); do
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
    # loopback only, anonymous clients as on the test machines. Queues per client are unbounded:
    # Mosquitto's default (1000 QoS 1 messages per client) drops messages it has already
    # acknowledged to the publisher once a subscriber falls that far behind (the bench lost 1,152
    # of 50,000 that way), which is the broker's configured loss, not a fault of ours.
    MOSQUITTO_CONF=${TMPDIR:-/tmp}/dapr-rs-mosquitto-$MOSQUITTO_PORT.conf
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$MOSQUITTO_PORT" >"$MOSQUITTO_CONF"
  elif ! grep -Eq '^max_queued_messages[[:space:]]+0' "$MOSQUITTO_CONF"; then
    echo "start-brokers: $MOSQUITTO_CONF keeps Mosquitto's queue limit per client: a subscriber that falls 1000 messages behind loses messages (set max_queued_messages 0)" >&2
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

# Apache Kafka 4 on 127.0.0.1:9092 (KRaft: broker and controller in one JVM, the controller on
# 127.0.0.1:9093), from Maven Central: scripts/kafka/kafka.sh fetches the jars once into
# ${DAPR_RS_CACHE:-~/.cache/dapr-rs}/kafka-<version>/libs. Data, log (kafka.log) and pid file
# (kafka.pid) in ${TMPDIR:-/var/tmp}/dapr-rs-kafka-9092. Tests that stop or break their broker run a
# private one instead: scripts/kafka/run-private.sh.
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_START_DEADLINE=${KAFKA_START_DEADLINE:-90}

if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  apt_install openjdk-17-jre-headless maven
fi
# shellcheck source=scripts/kafka/kafka.sh
. "$(dirname "$0")/kafka/kafka.sh"
kafka_fetch

KAFKA_DIR=${TMPDIR:-/var/tmp}/dapr-rs-kafka-$KAFKA_PORT
# One start-brokers.sh at a time starts it (two would format and start it twice over one folder).
exec 8>"$KAFKA_DIR.lock"
flock -w $((KAFKA_START_DEADLINE + 120)) 8 \
  || { echo "start-brokers: timed out waiting for another start-brokers.sh to start kafka ($KAFKA_DIR.lock)" >&2; exit 1; }
kafka_pid=""
if ! port_open "$KAFKA_PORT"; then
  echo "start-brokers: starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  kafka_config "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_DIR"
  kafka_format "$KAFKA_DIR"
  kafka_broker_argv "$KAFKA_DIR"
  # Detached (own session, stdin closed, not holding the lock), like the other brokers.
  setsid nohup "${KAFKA_BROKER_ARGV[@]}" >"$KAFKA_DIR/kafka.log" 2>&1 </dev/null 8>&- &
  kafka_pid=$!
  echo "$kafka_pid" >"$KAFKA_DIR/kafka.pid"
fi
# Started now or before (maybe still starting): ready once it serves a metadata request and creates
# a topic (scripts/kafka/kafka.sh kafka_ready).
if ! kafka_ready "$KAFKA_PORT" "$KAFKA_START_DEADLINE" "$kafka_pid"; then
  if [ -n "$kafka_pid" ] && ! kafka_alive "$kafka_pid"; then
    echo "start-brokers: kafka exited while starting on 127.0.0.1:$KAFKA_PORT (see $KAFKA_DIR/kafka.log)" >&2
  else
    echo "start-brokers: kafka did not serve on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_DEADLINE} s (see $KAFKA_DIR/kafka.log)" >&2
  fi
  if [ -n "$kafka_pid" ]; then
    { echo "--- its first errors:"; grep -m 5 -E '^\[[^]]*\] (ERROR|FATAL) |^Caused by' "$KAFKA_DIR/kafka.log"
      echo "--- its last lines:"; tail -n 30 "$KAFKA_DIR/kafka.log"; } >&2 || true
    # Ours and not serving: stop it (SIGTERM, then SIGKILL after 15 s) and reap it.
    kill "$kafka_pid" 2>/dev/null || true
    for _ in $(seq 30); do kafka_alive "$kafka_pid" || break; sleep 0.5; done
    kill -9 "$kafka_pid" 2>/dev/null || true
    wait "$kafka_pid" 2>/dev/null || true
    rm -f "$KAFKA_DIR/kafka.pid"
  fi
  exit 1
fi
exec 8>&-
