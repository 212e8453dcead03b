#!/usr/bin/env bash
# A PRIVATE Apache Kafka for a test that owns it (outage and fault tests), beside the shared one on
# 9092: the same cached jars and the same configuration template (scripts/kafka/kafka.sh,
# server.properties.in), on ports and a data folder of the test's own.
#
#   scripts/kafka/run-private.sh PORT CONTROLLER_PORT DATA_DIR
#
# Formats DATA_DIR on its first use (a new single-node KRaft cluster), then becomes the broker
# (exec): it runs in the FOREGROUND as this very process, clients on 127.0.0.1:PORT, its KRaft
# controller on 127.0.0.1:CONTROLLER_PORT, its log on standard output. So the harness owns it:
#   - start it as a child, its output to a file of the test's (Python:
#     proc = subprocess.Popen(["scripts/kafka/run-private.sh", "19092", "19093", str(tmp / "kafka")],
#                             stdout=log, stderr=subprocess.STDOUT));
#   - wait, with a deadline, until `scripts/kafka/kafka.sh ready 19092 90` exits 0 (a metadata
#     request answered), checking that proc is still alive;
#   - stop it with SIGTERM (a clean shutdown; give it ~30 s, then SIGKILL) or SIGKILL (a crash),
#     and always reap it (proc.wait()).
# Running it again on the same DATA_DIR restarts the same broker, its topics and messages kept (an
# outage); a new empty DATA_DIR is a new cluster. Remove DATA_DIR when the test is done.
# If the jars are not cached yet (scripts/start-brokers.sh normally fetched them), they are fetched
# first (progress on stderr; allow for it in the deadline, or run `scripts/kafka/kafka.sh fetch` first).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 PORT CONTROLLER_PORT DATA_DIR" >&2
  exit 2
fi
port=$1 controller_port=$2
mkdir -p "$3"
dir=$(cd "$3" && pwd)

# shellcheck source=scripts/kafka/kafka.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka.sh"

kafka_fetch
kafka_config "$port" "$controller_port" "$dir"
kafka_format "$dir"
kafka_broker_argv "$dir"
exec "${KAFKA_BROKER_ARGV[@]}"
