#!/usr/bin/env bash
# Apache Kafka 4 for dapr-rs's tests, from Maven Central: no Kafka distribution and no Debian
# package, only Java 17+ and Maven. The broker (KRaft mode: broker and controller in one process)
# runs as `java -cp '<libs>/*' kafka.Kafka server.properties`.
#
# The jars of org.apache.kafka:kafka_2.13 (broker, StorageTool), kafka-tools (console producer and
# consumer, TopicCommand) and their runtime dependencies are fetched ONCE, by
# `mvn dependency:copy-dependencies` of scripts/kafka/pom.xml, into
# ${DAPR_RS_CACHE:-~/.cache/dapr-rs}/kafka-<version>/libs (outside the clone; fetched again only when
# pom.xml changes). Each broker's configuration is made from server.properties.in.
#
# Sourced by scripts/start-brokers.sh (the shared broker on 127.0.0.1:9092) and by
# scripts/kafka/run-private.sh (a private broker owned by a test). Also a command:
#   scripts/kafka/kafka.sh fetch                  fetch the jars if needed; print their folder
#   scripts/kafka/kafka.sh ready PORT [SECONDS]   exit 0 once the broker on 127.0.0.1:PORT serves
#                                                 (creates or finds topic dapr-rs-ready; default 90 s)
#   scripts/kafka/kafka.sh tool CLASS [ARGS...]   run a Kafka command-line class on the same jars, e.g.
#     echo hello | scripts/kafka/kafka.sh tool org.apache.kafka.tools.ConsoleProducer \
#       --bootstrap-server 127.0.0.1:9092 --topic t
#     scripts/kafka/kafka.sh tool org.apache.kafka.tools.consumer.ConsoleConsumer \
#       --bootstrap-server 127.0.0.1:9092 --topic t --from-beginning --max-messages 1 --timeout-ms 30000
#
# KAFKA_VERSION (default below) picks another 4.x (4.0.1 to 4.4.0 are on Maven Central); JAVA another
# java; KAFKA_HEAP_OPTS the broker's heap; KAFKA_TOOL_DEADLINE (s) bounds each run of a tool.

KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
KAFKA_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DAPR_RS_CACHE=${DAPR_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dapr-rs}
KAFKA_HOME=$DAPR_RS_CACHE/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_JAVA=${JAVA:-java}
# Deadline of the download (mvn), of one run of a tool, and of the format step, in seconds.
KAFKA_FETCH_DEADLINE=${KAFKA_FETCH_DEADLINE:-900}
KAFKA_TOOL_DEADLINE=${KAFKA_TOOL_DEADLINE:-60}

kafka_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Puts the jars into $KAFKA_LIBS unless they are there already (for this pom.xml). Concurrent
# callers wait on a lock; the folder appears whole (fetched beside it, then renamed).
kafka_fetch() {
  local want
  want="$KAFKA_VERSION $(md5sum <"$KAFKA_SCRIPTS/pom.xml" | cut -c1-12)"
  if [ -f "$KAFKA_LIBS/.complete" ] && [ "$(cat "$KAFKA_LIBS/.complete")" = "$want" ]; then
    return 0
  fi
  command -v "$KAFKA_JAVA" >/dev/null || { echo "kafka: no $KAFKA_JAVA (Java 17 or later) on PATH" >&2; return 1; }
  command -v mvn >/dev/null || { echo "kafka: no mvn (Maven) on PATH" >&2; return 1; }
  mkdir -p "$KAFKA_HOME"
  (
    flock -w "$KAFKA_FETCH_DEADLINE" 9 || { echo "kafka: timed out waiting for another fetch into $KAFKA_HOME" >&2; exit 1; }
    if [ -f "$KAFKA_LIBS/.complete" ] && [ "$(cat "$KAFKA_LIBS/.complete")" = "$want" ]; then
      exit 0
    fi
    echo "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies from Maven Central into $KAFKA_LIBS" >&2
    tmp=$KAFKA_HOME/libs.partial
    rm -rf "$tmp"
    # -f on a copy of the pom outside the clone: Maven writes nothing into scripts/kafka/.
    cp "$KAFKA_SCRIPTS/pom.xml" "$KAFKA_HOME/pom.xml"
    if ! timeout --kill-after=10 "$KAFKA_FETCH_DEADLINE" mvn -q -B -f "$KAFKA_HOME/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp" >"$KAFKA_HOME/fetch.log" 2>&1; then
      echo "kafka: mvn dependency:copy-dependencies failed (or passed its ${KAFKA_FETCH_DEADLINE} s deadline); last lines of $KAFKA_HOME/fetch.log:" >&2
      tail -n 30 "$KAFKA_HOME/fetch.log" >&2
      exit 1
    fi
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { echo "kafka: mvn ran but $tmp has no kafka_2.13-$KAFKA_VERSION.jar" >&2; exit 1; }
    echo "$want" >"$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
  ) 9>"$KAFKA_HOME/.lock"
}

# Runs a Kafka command-line class (small heap, quick start, warnings to stderr), under a deadline.
kafka_tool() {
  timeout --kill-after=5 "$KAFKA_TOOL_DEADLINE" "$KAFKA_JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# Writes DATA_DIR/server.properties for a broker on 127.0.0.1:PORT, controller on CONTROLLER_PORT.
kafka_config() {
  local port=$1 controller_port=$2 dir=$3
  mkdir -p "$dir"
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA_DIR@|$dir|g" \
    "$KAFKA_SCRIPTS/server.properties.in" >"$dir/server.properties"
}

# Formats DATA_DIR's storage (a new cluster id) unless it was formatted before: a broker started
# again on the same folder keeps its topics and messages. Further arguments go to StorageTool's
# format, e.g. --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]'.
kafka_format() {
  local dir=$1 id
  shift
  [ -f "$dir/data/meta.properties" ] && return 0
  # A cluster id: 16 random bytes in URL-safe base64 without padding, as `StorageTool random-uuid`.
  id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  case $id in -*) id=A${id#?} ;; esac
  kafka_tool kafka.tools.StorageTool format --cluster-id "$id" --config "$dir/server.properties" \
    --ignore-formatted "$@" >"$dir/format.log" 2>&1 \
    || { echo "kafka: formatting $dir failed:" >&2; cat "$dir/format.log" >&2; return 1; }
}

# Sets KAFKA_BROKER_ARGV to the broker's command line (it runs in the foreground) for DATA_DIR made
# by kafka_config.
kafka_broker_argv() {
  local dir=$1
  # shellcheck disable=SC2206
  local heap=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g})
  KAFKA_BROKER_ARGV=("$KAFKA_JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.properties"
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties")
}

# True while process PID runs (a zombie, exited but not yet reaped, does not count).
kafka_alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Waits until the broker on 127.0.0.1:PORT serves: the port opens, then creating the topic
# dapr-rs-ready (--if-not-exists: a metadata request to the broker and, the first time, a
# CreateTopics through the KRaft controller) succeeds. Gives up after SECONDS, or as soon as
# process PID (when given) is gone. Returns non-zero then.
kafka_ready() {
  local port=$1 seconds=${2:-90} pid=${3:-} end
  end=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$end" ]; do
    if [ -n "$pid" ] && ! kafka_alive "$pid"; then
      return 1
    fi
    if kafka_port_open "$port" \
      && KAFKA_TOOL_DEADLINE=$((end - SECONDS > 5 ? end - SECONDS : 5)) kafka_tool \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --create \
        --if-not-exists --topic dapr-rs-ready --partitions 1 --replication-factor 1 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    fetch) kafka_fetch && echo "$KAFKA_LIBS" ;;
    ready)
      [ $# -ge 2 ] || { echo "usage: $0 ready PORT [SECONDS]" >&2; exit 2; }
      kafka_fetch
      kafka_ready "$2" "${3:-90}" || { echo "kafka: nothing answers as a Kafka broker on 127.0.0.1:$2 within ${3:-90} s" >&2; exit 1; }
      ;;
    tool)
      [ $# -ge 2 ] || { echo "usage: $0 tool CLASS [ARGS...]" >&2; exit 2; }
      shift
      kafka_fetch
      kafka_tool "$@"
      ;;
    *) echo "usage: $0 fetch | ready PORT [SECONDS] | tool CLASS [ARGS...]" >&2; exit 2 ;;
  esac
fi
