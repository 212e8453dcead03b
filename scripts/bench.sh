#!/usr/bin/env bash
# Benchmarks of issue #2's targets (and #4's Node client against @dapr/dapr, #5's .NET binding against the core, #6's Python client against dapr), on this machine, in one run; results go to stdout and to
# bench/REPORT.md. Not a test: nothing here fails on a slow number.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p dapr-rs-cli -p dapr-rs-bench
bin=$CARGO_TARGET_DIR/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
component() { # dir type [path]
  mkdir -p "$1"
  { echo "apiVersion: dapr.io/v1alpha1"; echo "kind: Component"; echo "metadata: {name: order_pub_sub}"; echo "spec:";
    echo "  type: $2"; echo "  version: v1"; echo "  metadata:";
    [ -n "${3:-}" ] && { echo "  - name: path"; echo "    value: \"$3\""; }; true; } > "$1/pubsub.yaml"
}
sidecar() { # app-id resources grpc-port http-port [app-port]
  local args=(sidecar --app-id "$1" --resources-path "$2" --dapr-grpc-port "$3" --dapr-http-port "$4" --metrics-port 0 --log-level warn)
  [ -n "${5:-}" ] && args+=(--app-port "$5" --app-protocol grpc)
  "$bin/dapr-rs" "${args[@]}" > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$4/v1.0/healthz/outbound" && return; sleep 0.05; done
  echo "sidecar $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}
results=()
record() { echo "$1"; results+=("$1"); }
# BENCH_SECTIONS picks what runs (default all): floor, clients, end-to-end, idle, backlog; e.g.
# BENCH_SECTIONS=floor,end-to-end for the broker rows alone; the floor and the in-memory sidecar
# always run.
sections=",${BENCH_SECTIONS:-floor,clients,end-to-end,idle,backlog},"
wants() { [[ $sections == *",$1,"* ]]; }
# Runs a benchmark binary; a failed run stops the script (its output says why).
measure() { local out; out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }; record "$out"; }
measure_as() { local label=$1 out; shift; out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }; record "$label: $out"; }

# 0. The floor: tonic's generated client against a do-nothing server, and our client against it,
#    measured in the same run so the numbers below can be read against them on this machine.
"$bin/bare_tonic" serve > "$work/bare.addr" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bare.addr" ] && break; sleep 0.05; done
bare=$(cat "$work/bare.addr")
measure "$bin/bare_tonic" publish --address "$bare" --count 200000 --in-flight 100
measure "$bin/publish_throughput" --address "$bare" --count 200000 --in-flight 100 --label "core client -> do-nothing server"

# 1. Rust client, 100 in flight, through our sidecar on pubsub.in-memory.
component "$work/mem" pubsub.in-memory
g=$(port); h=$(port)
sidecar memory "$work/mem" "$g" "$h"
memory_pid=${pids[-1]}
measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count 200000 --in-flight 100
measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count 20000 --in-flight 1

if wants clients; then
# 1b. Node (issue #4): dapr-rs's client and the official @dapr/dapr, side by side on the same sidecar.
(cd bench/node && npm install --no-audit --no-fund --loglevel=error > /dev/null)
node_out=$(cd bench/node && node publish.mjs --grpc-port "$g" --http-port "$h" --count 20000) || { echo "bench: node publish.mjs failed" >&2; exit 1; }
while IFS= read -r line; do record "$line"; done < <(grep '^node publish' <<< "$node_out")

# 1c. .NET (issue #5): the DaprRs binding under Mono on the same sidecar, next to the bare Rust
#     core's serial and 100-in-flight rates measured just before it (lines of section 1).
mkdir -p bench/dotnet/bin
cp bindings-dotnet/bin/DaprRs.dll bindings-dotnet/bin/libdapr_rs_ffi.so bench/dotnet/bin/
mcs -nologo -langversion:7 -optimize+ -r:bench/dotnet/bin/DaprRs.dll -out:bench/dotnet/bin/Publish.exe bench/dotnet/Publish.cs
dotnet_out=$(mono bench/dotnet/bin/Publish.exe "http://127.0.0.1:$g" 100000) || { echo "bench: bench/dotnet/Publish.exe failed" >&2; exit 1; }
core_rate() { printf '%s\n' "${results[@]}" | grep -E "^publish_throughput: .* $1 in flight" | tail -1 | grep -oE '[0-9.]+ events/s' | grep -oE '^[0-9.]+'; }
while IFS= read -r line; do
  k=$(grep -oE '[0-9]+ in flight' <<< "$line" | grep -oE '^[0-9]+')
  r=$(grep -oE '[0-9.]+ events/s' <<< "$line" | grep -oE '^[0-9.]+')
  c=$(core_rate "$k")
  record "$line = $(python3 -c "print(round(100 * $r / $c))")% of the bare Rust core ($c events/s)"
done < <(grep '^dotnet publish' <<< "$dotnet_out")

# 1d. Python (issue #6): dapr_rs and the official dapr SDK side by side on the same sidecar.
py_out=$(.venv/bin/python bench/python/publish.py --grpc-port "$g" --http-port "$h" --count 20000) || { echo "bench: bench/python/publish.py failed" >&2; exit 1; }
while IFS= read -r line; do record "$line"; done < <(grep '^python publish' <<< "$py_out")
fi

# 2. Publisher sidecar → broker → subscriber sidecar → app, on the embedded broker, Redis and
#    Kafka (issue #15): as fast as it goes with 100 in flight, then p50/p99 at 1,000 events/s.
#    Same topic for both runs: the subscriber sidecar read the app's subscriptions once.
end_to_end() { # name resources
  local pg ph sg sh app
  pg=$(port); ph=$(port); sg=$(port); sh=$(port); app=$(port)
  sidecar "$1-publisher" "$2" "$pg" "$ph"
  sidecar "$1-subscriber" "$2" "$sg" "$sh" "$app"
  measure_as "$1" "$bin/end_to_end" --publish-address "127.0.0.1:$pg" --app-port "$app" --count 50000 --in-flight 100
  measure_as "$1" "$bin/end_to_end" --publish-address "127.0.0.1:$pg" --app-port "$app" --count 10000 --rate 1000
}
component "$work/sqlite" pubsub.sqlite "$work/bench.db"
if wants end-to-end; then
  end_to_end sqlite "$work/sqlite"
  component "$work/redis" pubsub.redis
  printf '  - name: redisHost\n    value: "127.0.0.1:6379"\n' >> "$work/redis/pubsub.yaml"
  end_to_end redis "$work/redis"
  component "$work/kafka" pubsub.kafka
  printf '  - name: brokers\n    value: "127.0.0.1:9092"\n  - name: authType\n    value: none\n' >> "$work/kafka/pubsub.yaml"
  end_to_end kafka "$work/kafka"
fi

# 3. An idle sidecar's resident memory.
if wants idle; then
sleep 2
rss=$(awk '/VmRSS/ {print $2}' "/proc/$memory_pid/status")
record "idle sidecar (in-memory, after the run): $((rss / 1024)) MB resident"
ig=$(port); ih=$(port)
sidecar idle "$work/sqlite" "$ig" "$ih"
sleep 2
rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[-1]}/status")
record "idle sidecar (pubsub.sqlite, fresh): $((rss / 1024)) MB resident"
fi

# 4. A subscriber catching up (issue #13): a backlog of 20,000 messages over 1, 100 and 1,000 topics
#    drained by a Python app, per broker: rate, the subscriber sidecar's peak RSS, duplicates, and
#    its idle CPU with that many subscriptions.
backlog=""
if wants backlog; then
  backlog=$(.venv/bin/python bench/backlog/backlog_bench.py --brokers sqlite,redis,jetstream,rabbitmq,mqtt3) \
    || { echo "bench: bench/backlog/backlog_bench.py failed" >&2; exit 1; }
  echo "$backlog"
fi

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo
  for r in "${results[@]}"; do echo "- $r"; done
  echo
  echo "$backlog"
} >> bench/REPORT.md
