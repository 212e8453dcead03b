#!/usr/bin/env bash
# Benchmarks of issue #2's targets, the clients beside the official SDKs (#4 Node, #5 .NET, #6
# Python), and issue #19's: every layer against the layer under it, in one run on this machine.
# Results go to stdout, to a section of bench/REPORT.md and (a whole run) to PNG charts in
# bench/charts/.
# Not a test: nothing here fails on a slow number.
#
#   BENCH_SECTIONS  what runs (default all): floor, clients, instructions, end-to-end, bulk, idle,
#                   backlog; e.g. BENCH_SECTIONS=floor,end-to-end. The in-memory sidecar always runs.
#   BENCH_CLIENTS   which clients section 1b runs (default: node dotnet python jvm).
#   BENCH_ROUNDS    interleaved rounds of section 1c's binding tax and section 4's bulk share (default 5).
#   BENCH_SCALE     multiplies every event count (default 1): BENCH_SCALE=0.05 checks the harness
#                   in a few minutes; its numbers are not comparable and its section says so.
#   BENCH_OUT       where REPORT.md and charts/ are written (default bench/; a scaled run's go
#                   to $TMPDIR/dapr-rs-bench).
#   DAPR_RS_BIN     the sidecar binary measured (default: the one this script builds).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
sections=",${BENCH_SECTIONS:-floor,clients,instructions,end-to-end,bulk,idle,backlog},"
wants() { [[ $sections == *",$1,"* ]]; }
scale=${BENCH_SCALE:-1}
out=${BENCH_OUT:-bench}
# A scaled run checks the harness: unless told otherwise, its report stays out of the repository's.
[ "$scale" = 1 ] || out=${BENCH_OUT:-${TMPDIR:-/tmp}/dapr-rs-bench}
# What the bench needs besides `make test`'s: valgrind, redis-benchmark, matplotlib; and the brokers.
scripts/install-deps.sh bench
cargo build -q --release -p dapr-rs-cli -p dapr-rs-bench
# Cargo's release dir: the Makefile's (it builds for the host's triple by name), else cargo's own.
bin=${DAPR_RS_RELEASE_DIR:-$CARGO_TARGET_DIR/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release}
sidecar_bin=${DAPR_RS_BIN:-$bin/dapr-rs}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Numbers of a tree with uncommitted changes are not the commit's: say so on every line.
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit+uncommitted"
work=$(mktemp -d)
pids=()
cleanup() {
  # Every child (sidecars, valgrind, the do-nothing server).
  [ ${#pids[@]} -eq 0 ] || stop "${pids[@]}"
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Stops processes started here and waits for each up to 30 s, then kills it (a sidecar under
# valgrind takes seconds to exit), so the next section does not share the machine with them.
stop() { kill "$@" 2>/dev/null || true; for p in "$@"; do timeout 30 tail --pid="$p" -f /dev/null 2>/dev/null || kill -9 "$p" 2>/dev/null || true; done; }
n() { python3 -c "print(max(1, round($1 * $scale)))"; } # an event count, scaled
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Writes a component `order_pub_sub` of `type` to dir/pubsub.yaml: name=value metadata after it.
component() { # dir type [name=value ...]
  local dir=$1 type=$2 kv
  shift 2
  mkdir -p "$dir"
  { echo "apiVersion: dapr.io/v1alpha1"; echo "kind: Component"; echo "metadata: {name: order_pub_sub}"; echo "spec:";
    echo "  type: $type"; echo "  version: v1"; echo "  metadata:";
    for kv in "$@"; do echo "  - name: ${kv%%=*}"; echo "    value: \"${kv#*=}\""; done; } > "$dir/pubsub.yaml"
}
# A broker's component as the samples give it (samples/components-<broker>), without its scopes:
# the bench's app ids are its own.
sample_component() { # dir broker
  mkdir -p "$1"
  sed '/^scopes:/,$d' "samples/components-$2/pubsub.yaml" > "$1/pubsub.yaml"
}
# Starts a sidecar (under $wrap when set, e.g. valgrind) and waits until its outbound API is up.
sidecar() { # app-id resources grpc-port http-port [app-port]
  local args=(sidecar --app-id "$1" --resources-path "$2" --dapr-grpc-port "$3" --dapr-http-port "$4" --metrics-port 0 --log-level warn)
  [ -n "${5:-}" ] && args+=(--app-port "$5" --app-protocol grpc)
  # shellcheck disable=SC2086
  ${wrap:-} "$sidecar_bin" "${args[@]}" > "$work/$1.log" 2>&1 &
  pids+=($!)
  local deadline=$((SECONDS + 20))
  [ -n "${wrap:-}" ] && deadline=$((SECONDS + 120))  # valgrind starts it some 50 times slower
  until curl -sf -o /dev/null "http://127.0.0.1:$4/v1.0/healthz/outbound"; do
    [ $SECONDS -lt $deadline ] || { echo "sidecar $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1; }
    sleep 0.1
  done
}
results=()
# One report line: what was measured, on what, at which commit.
record() { local line="$1 ($commit)"; echo "$line"; results+=("$line"); }
# Runs a benchmark binary; a failed run stops the script (its output says why).
measure() { local out; out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }; record "$out"; }
measure_as() { local label=$1 out; shift; out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }; record "$label: $out"; }
# The same for one broker's end-to-end run, where one broker's failure is a finding to report, not a
# reason to lose the rest of the run: the line says it failed and what the run said last.
measure_broker() {
  local label=$1 out; shift
  if out=$("$@" 2>"$work/$label.err"); then record "$label: $out"; else
    record "$label: FAILED: $({ printf '%s\n' "$out"; cat "$work/$label.err"; } | grep -v '^$' | tail -n 1) [$*]"; return 1
  fi
}
rate_of() { grep -oE '[0-9.]+ events/s' <<< "$1" | head -1 | grep -oE '^[0-9.]+'; }
last_rate() { printf '%s\n' "${results[@]}" | grep -E "^$1" | tail -1 | grep -oE '[0-9.]+ events/s' | head -1 | grep -oE '^[0-9.]+'; }

# 0. The floor: tonic's generated client against a do-nothing server, and our client against it,
#    100 in flight and serially, measured in the same run so the numbers below read against them.
if wants floor; then
  "$bin/bare_tonic" serve > "$work/bare.addr" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/bare.addr" ] && break; sleep 0.05; done
  bare=$(cat "$work/bare.addr")
  [ -n "$bare" ] || { echo "bench: the do-nothing server did not say its address within 5 s" >&2; exit 1; }
  measure "$bin/bare_tonic" publish --address "$bare" --count "$(n 200000)" --in-flight 100
  measure "$bin/publish_throughput" --address "$bare" --count "$(n 200000)" --in-flight 100 --label "core client -> do-nothing server"
  measure "$bin/publish_throughput" --address "$bare" --count "$(n 20000)" --in-flight 1 --label "core client -> do-nothing server"
  # One round trip's latency at 1,000/s: the floor under the paced end-to-end runs of section 2,
  # whose path makes two such calls (publisher -> its sidecar, subscriber sidecar -> app).
  measure "$bin/publish_throughput" --address "$bare" --count "$(n 10000)" --rate 1000 --label "core client -> do-nothing server"
fi

# 1. Rust client, 100 in flight and serially, through our sidecar on pubsub.in-memory; the sidecar's
#    own cost per serial publish is the difference from the serial floor (issue #19 item 2).
component "$work/mem" pubsub.in-memory
g=$(port); h=$(port)
sidecar memory "$work/mem" "$g" "$h"
memory_pid=${pids[-1]}
measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n 200000)" --in-flight 100
measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n 20000)" --in-flight 1
wants floor && measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n 10000)" --rate 1000
if wants floor; then
  through=$(last_rate "publish_throughput: .* 1 in flight"); floor=$(last_rate "core client -> do-nothing server: .* 1 in flight")
  record "$(python3 -c "a, b = 1e6 / $through, 1e6 / $floor; print(f'sidecar tax, serial: the sidecar on pubsub.in-memory adds {a - b:.1f} µs to a publish (core client, 1 in flight: {a:.1f} µs a publish through it, {b:.1f} µs to the do-nothing server)')")"
fi

# 1b. Each client beside the official SDK on the same sidecar. A client is a function
#    client_<name> (grpc-port http-port) printing report lines; add one and list it in `clients`.
# Runs a client's driver and records the lines it prints that start with `prefix`.
record_lines() { # prefix command...
  local prefix=$1 out
  shift
  out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }
  while IFS= read -r line; do record "$line"; done < <(grep "^$prefix" <<< "$out")
}
# The same, each line with its rate as a share of the bare Rust core's at that many in flight
# (section 1's lines).
record_against_core() { # prefix command...
  local prefix=$1 out k r c
  shift
  out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }
  while IFS= read -r line; do
    k=$(grep -oE '[0-9]+ in flight' <<< "$line" | grep -oE '^[0-9]+')
    r=$(rate_of "$line")
    c=$(last_rate "publish_throughput: .* $k in flight")
    record "$line = $(python3 -c "print(round(100 * $r / $c))")% of the bare Rust core ($c events/s)"
  done < <(grep "^$prefix" <<< "$out")
}
# The bare core's serial publish in whole µs (section 1): the work the bindings' floors put on the
# runtime so their callers go idle, as they do behind a real publish.
work_us() { python3 -c "print(round(1e6 / $(last_rate "publish_throughput: .* 1 in flight")))"; }
# Each binding's publish driver against the sidecar at grpc-port/http-port, with its own flags after
# them: section 1b runs it whole, 1c for its two rates alone (--rates-only).
node_driver() { local grpc=$1 http=$2; shift 2; node bench/node/publish.mjs --grpc-port "$grpc" --http-port "$http" --count "$(n 20000)" "$@"; }
dotnet_driver() { local grpc=$1; shift 2; mono bench/dotnet/bin/Publish.exe "http://127.0.0.1:$grpc" "$(n 100000)" "$@"; }
python_driver() { local grpc=$1 http=$2; shift 2; .venv/bin/python bench/python/publish.py --grpc-port "$grpc" --http-port "$http" --count "$(n 20000)" "$@"; }
client_node() { # issue #4: dapr-rs's client and the official @dapr/dapr
  (cd bench/node && npm install --no-audit --no-fund --loglevel=error > /dev/null)
  local out
  out=$(node_driver "$1" "$2" --work-us "$(work_us)") || { echo "bench: the Node publish bench failed" >&2; exit 1; }
  # dapr-rs's rates also as a share of the bare Rust core's (the binding tax), then the official
  # client's and the floor under the binding.
  record_against_core "node publish, [0-9]* in flight: dapr-rs (gRPC)" printf '%s\n' "$out"
  record_lines "node publish, [0-9]* in flight: \(@dapr\|dapr-rs is\)" printf '%s\n' "$out"
  record_lines "node promise floor" printf '%s\n' "$out"
}
client_dotnet() { # issue #5: the DaprRs binding under Mono, against the bare Rust core's rates of section 1
  mkdir -p bench/dotnet/bin
  cp bindings-dotnet/bin/DaprRs.dll bindings-dotnet/bin/libdapr_rs_ffi.so bench/dotnet/bin/
  mcs -nologo -langversion:7 -optimize+ -r:bench/dotnet/bin/DaprRs.dll -out:bench/dotnet/bin/Publish.exe bench/dotnet/Publish.cs
  local out
  out=$(dotnet_driver "$1" "$2" "$(work_us)") || { echo "bench: the .NET publish bench failed" >&2; exit 1; }
  record_against_core "dotnet publish" printf '%s\n' "$out"
  record_lines "dotnet native floor" printf '%s\n' "$out"
}
client_python() { # issue #6: dapr_rs and the official dapr SDK
  record_lines "python \(publish\|runtime floor\)" python_driver "$1" "$2" --work-us "$(work_us)"
}
client_jvm() { # issue #20: the JVM binding (the jar `make jvm` installs), against the bare Rust core's rates of section 1
  local version
  version=$(make -s version)
  (cd bench/jvm && mvn -q -B --no-transfer-progress -Dstyle.color=never -Ddapr-rs.version="$version" compile)
  local out
  out=$(java -cp 'bench/jvm/target/lib/*' bench/jvm/Publish.java "$1" "$(n 100000)") || { echo "bench: the JVM publish bench failed" >&2; exit 1; }
  record_against_core "jvm publish" printf '%s\n' "$out"
  record_lines "jvm uniffi floor" printf '%s\n' "$out"
}
# BENCH_CLIENTS narrows them, e.g. BENCH_CLIENTS=jvm.
read -r -a clients <<< "${BENCH_CLIENTS:-node dotnet python jvm}"
if wants clients; then
  for c in "${clients[@]}"; do
    # The core's rates again just before each client: this machine's speed drifts by 10-20% within
    # minutes, and each client's share reads against the core's rates nearest to it (last_rate).
    measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n 200000)" --in-flight 100
    measure "$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n 20000)" --in-flight 1
    "client_$c" "$g" "$h"
  done
fi

# 1c. The binding tax (issue #19 item 1) as the median of interleaved rounds: one pass of 1b moves
#     by 10-15 points between runs minutes apart on a small virtual machine. Each round measures the
#     core, a binding's own two rates (no official client, no floor), then the core again, and reads
#     the binding against the mean of the core's two. The JVM, with no target, keeps its one pass.
rates_node() { node_driver "$g" "$h" --rates-only; }
rates_dotnet() { dotnet_driver "$g" "$h" rates-only; }
rates_python() { python_driver "$g" "$h" --rates-only; }
core_rate() { # in-flight: the core's rate through the in-memory sidecar, not recorded
  local count=100000
  [ "$1" = 1 ] && count=10000
  rate_of "$("$bin/publish_throughput" --address "127.0.0.1:$g" --count "$(n "$count")" --in-flight "$1")"
}
rounds=${BENCH_ROUNDS:-5}
if wants clients; then
  for c in "${clients[@]}"; do
    declare -F "rates_$c" > /dev/null || continue
    samples=()
    for _ in $(seq "$rounds"); do
      before1=$(core_rate 1); before100=$(core_rate 100)
      rates=$("rates_$c") || { echo "bench: $c's rates failed" >&2; exit 1; }
      after1=$(core_rate 1); after100=$(core_rate 100)
      samples+=("$(rate_of "$(grep ', 1 in flight' <<< "$rates")") $before1 $after1 $(rate_of "$(grep ', 100 in flight' <<< "$rates")") $before100 $after100")
    done
    record "$(python3 - "$c" "${samples[@]}" <<'EOF'
import statistics, sys
name, rounds = sys.argv[1], [list(map(float, r.split())) for r in sys.argv[2:]]
def shares(i):
    return [round(100 * r[i] / ((r[i + 1] + r[i + 2]) / 2)) for r in rounds]
def said(values):
    return f"{statistics.median(values):.0f}% (rounds: {', '.join(f'{v}%' for v in values)})"
print(f"binding tax, {name}: the median of {len(rounds)} interleaved rounds, each against the core's rates just before and after it: "
      f"serial {said(shares(0))}, 100 in flight {said(shares(3))}")
EOF
)"
  done
fi

# 2. End to end: publisher sidecar → broker → subscriber sidecar → app, as fast as it goes with
#    100 in flight, then p50/p99 paced at 1,000 events/s; on the embedded broker and every real
#    broker (issue #19 item 4; the samples' components). Each run has a topic of its own, so
#    nothing left in a broker by an earlier run is counted.
run_id=$(date +%s)
end_to_end() { # name resources
  local pg ph sg sh app topic=bench-e2e-$1-$run_id
  pg=$(port); ph=$(port); sg=$(port); sh=$(port); app=$(port)
  sidecar "$1-publisher" "$2" "$pg" "$ph"
  sidecar "$1-subscriber" "$2" "$sg" "$sh" "$app"
  measure_broker "$1" "$bin/end_to_end" --publish-address "127.0.0.1:$pg" --app-port "$app" --topic "$topic" --count "$(n 50000)" --in-flight 100 &&
  measure_broker "$1" "$bin/end_to_end" --publish-address "127.0.0.1:$pg" --app-port "$app" --topic "$topic" --count "$(n 10000)" --rate 1000 \
    --latency-out "$work/latency-$1.json" || true
  [ "$1" = redis ] && redis-cli -h 127.0.0.1 -p 6379 del "$topic" > /dev/null
  return 0
}
# The floor under them: one sidecar on pubsub.in-memory delivering its own publishes to the app,
# the same two round trips (client -> sidecar, sidecar -> app) without a broker or a second sidecar.
end_to_end_floor() {
  local g h app topic=bench-e2e-floor-$run_id
  g=$(port); h=$(port); app=$(port)
  sidecar in-memory-floor "$work/mem" "$g" "$h" "$app"
  measure_broker in-memory-one-sidecar "$bin/end_to_end" --publish-address "127.0.0.1:$g" --app-port "$app" --topic "$topic" --count "$(n 50000)" --in-flight 100 &&
  measure_broker in-memory-one-sidecar "$bin/end_to_end" --publish-address "127.0.0.1:$g" --app-port "$app" --topic "$topic" --count "$(n 10000)" --rate 1000 || true
  stop "${pids[-1]}"
}
component "$work/sqlite" pubsub.sqlite "path=$work/bench.db"
e2e_brokers=(sqlite redis jetstream rabbitmq mqtt3 kafka)
if wants end-to-end; then
  end_to_end_floor
  for b in "${e2e_brokers[@]}"; do
    [ "$b" = sqlite ] || sample_component "$work/$b" "$b"
    end_to_end "$b" "$work/$b"
  done
fi

# 3. The sidecar's own work as instructions (valgrind's callgrind), stable where wall time is
#    noisy: per publish (1 in flight) on pubsub.in-memory, SQLite and Redis, and per delivered event
#    on SQLite and Redis (the subscriber sidecar; its delivery handler's share apart, as the whole
#    process's count moves with the broker's polling). Counted from after a warm-up to the end.
callgrind() { # name: starts the next sidecar() under callgrind (counts zeroed later)
  wrap="valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.$1.%p"
}
instructions() { # pid label events function: zeroes, runs the rest of the arguments, dumps, records Ir/event
  local pid=$1 label=$2 events=$3 function=$4 dump within=0
  shift 4
  timeout 60 callgrind_control -z "$pid" > /dev/null 2>&1
  "$@" > "$work/instructions.out" || { echo "bench: $* failed" >&2; cat "$work/instructions.out" >&2; exit 1; }
  timeout 120 callgrind_control -d "$pid" > /dev/null 2>&1
  dump=$(ls -t "$work"/callgrind.*."$pid".* | head -1)
  # The inclusive count of `function` (everything it and its callees ran), when one is named.
  [ -n "$function" ] && within=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | grep -F "$function" | head -1 | awk '{gsub(",", "", $1); print $1}')
  record "$(python3 - "$dump" "$label" "$events" "${within:-0}" "$(sed -E 's/.*::([A-Za-z]+) as .*>::([a-z_]+)$/\1::\2/' <<< "$function")" <<'EOF'
import sys
dump, label, events, within, function = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ir = next(int(line.split()[1]) for line in open(dump) if line.startswith(("summary:", "totals:")))
part = f", of which {within / events:,.0f} in {function}" if within else ""
print(f"sidecar instructions, {label}: {ir / events:,.0f} per event{part} ({ir:,} over {events} events, callgrind)")
EOF
)"
}
if wants instructions; then
  count=$(n 2000)
  sample_component "$work/redis-ir" redis
  for b in in-memory sqlite redis; do
    dir=$work/mem; [ "$b" = sqlite ] && dir=$work/sqlite; [ "$b" = redis ] && dir=$work/redis-ir
    ig=$(port); ih=$(port)
    callgrind "publish-$b"; sidecar "ir-$b" "$dir" "$ig" "$ih"; unset wrap
    "$bin/publish_throughput" --address "127.0.0.1:$ig" --count 0 --warmup 500 --in-flight 1 > /dev/null
    instructions "${pids[-1]}" "publish on pubsub.$b (core client, 1 in flight)" "$count" "" \
      "$bin/publish_throughput" --address "127.0.0.1:$ig" --topic "bench-ir-$run_id" --count "$count" --warmup 0 --in-flight 1
    stop "${pids[-1]}"
  done
  for b in sqlite redis; do
    dir=$work/sqlite; [ "$b" = redis ] && dir=$work/redis-ir
    pg=$(port); ph=$(port); sg=$(port); sh=$(port); app=$(port)
    sidecar "ir-publisher-$b" "$dir" "$pg" "$ph"
    callgrind "delivery-$b"; sidecar "ir-subscriber-$b" "$dir" "$sg" "$sh" "$app"; unset wrap
    e2e=("$bin/end_to_end" --publish-address "127.0.0.1:$pg" --app-port "$app" --topic "bench-ir-$b-$run_id" --in-flight 10 --wait 120)
    "${e2e[@]}" --count 500 > /dev/null
    instructions "${pids[-1]}" "delivery on pubsub.$b (subscriber sidecar, gRPC app, 10 in flight)" "$count" \
      "dapr_rs_sidecar::delivery::event_delivery::EventDelivery as dapr_rs_components::MessageHandler>::handle" "${e2e[@]}" --count "$count"
    stop "${pids[-1]}" "${pids[-2]}"
  done
  redis-cli -h 127.0.0.1 -p 6379 del "bench-ir-$run_id" "bench-ir-redis-$run_id" > /dev/null
fi

# 4. Bulk publish through the sidecar to Redis, as a share of what Redis takes from
#    redis-benchmark's pipelined XADDs of an entry of the same size, in the same run: the median of
#    interleaved rounds (BENCH_ROUNDS), each ours then redis-benchmark's. One pass is about a second
#    of each and moved 25-43% between whole runs at one commit.
if wants bulk; then
  sample_component "$work/redis-bulk" redis
  bg=$(port); bh=$(port)
  sidecar bulk "$work/redis-bulk" "$bg" "$bh"
  stream=bench-bulk-$run_id
  bulk_rounds=()
  for round in $(seq "$rounds"); do
    measure "$bin/publish_throughput" --address "127.0.0.1:$bg" --topic "$stream" --count "$(n 200000)" --bulk 100 --in-flight 4 \
      --label "bulk publish through the sidecar to pubsub.redis, round $round"
    ours=$(last_rate "bulk publish through the sidecar")
    # An entry as the sidecar writes it: the CloudEvent of {"orderId":42}.
    entry=$(redis-cli -h 127.0.0.1 -p 6379 --raw xrange "$stream" - + count 1 | sed -n 3p)
    redis-cli -h 127.0.0.1 -p 6379 del "$stream" > /dev/null
    rb=$(timeout 600 redis-benchmark -h 127.0.0.1 -p 6379 -n "$(n 200000)" -P 100 -c 4 -q XADD "$stream-rb" '*' data "$entry" 2>/dev/null | tr '\r' '\n' | grep -oE '[0-9.]+ requests per second' | tail -1 | grep -oE '^[0-9.]+')
    redis-cli -h 127.0.0.1 -p 6379 del "$stream-rb" > /dev/null
    share=$(python3 -c "print(round(100 * $ours / $rb))")
    record "redis-benchmark XADD (pipeline 100, 4 connections, ${#entry}-byte entries), round $round: $(n 200000) events: ${rb%.*} events/s; bulk publish through the sidecar = $share% of it"
    bulk_rounds+=("$ours $rb $share")
  done
  record "$(python3 - "${bulk_rounds[@]}" <<'PY'
import statistics, sys
rounds = [tuple(map(float, r.split())) for r in sys.argv[1:]]
shares = [round(r[2]) for r in rounds]
print(f"bulk publish through the sidecar to pubsub.redis as a share of redis-benchmark's XADDs: the median of "
      f"{len(rounds)} interleaved rounds {statistics.median(shares):.0f}% (rounds: {', '.join(f'{v}%' for v in shares)}); "
      f"medians {statistics.median(r[0] for r in rounds):.0f} and {statistics.median(r[1] for r in rounds):.0f} events/s")
PY
)"
fi

# 5. An idle sidecar's resident memory.
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

# 6. A subscriber catching up (issue #13): a backlog of 20,000 messages over 1, 100 and 1,000 topics
#    drained by a Python app, per broker: rate, the subscriber sidecar's peak RSS, duplicates, and
#    its idle CPU with that many subscriptions.
backlog=""
if wants backlog; then
  backlog=$(.venv/bin/python bench/backlog/backlog_bench.py --brokers sqlite,redis,jetstream,rabbitmq,mqtt3 --messages "$(n 20000)") \
    || { echo "bench: bench/backlog/backlog_bench.py failed" >&2; exit 1; }
  # Its heading says when; the commit and the machine, as every line of the report does.
  backlog=$(sed -E "s/^(## Backlog drain, .* UTC)\$/\1 on $(nproc) cores ($commit)/" <<< "$backlog")
  echo "$backlog"
fi

mkdir -p "$out/charts"
{
  echo
  echo -n "## $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($commit)"
  [ "$scale" = 1 ] && echo || echo ", counts scaled by $scale: a check of the harness, not comparable"
  echo
  for r in "${results[@]}"; do echo "- $r"; done
  echo
  echo "$backlog"
} >> "$out/REPORT.md"
# The charts show a whole run: a partial one (some sections or clients) keeps the last whole run's,
# which the README shows.
if [ -z "${BENCH_SECTIONS:-}${BENCH_CLIENTS:-}" ]; then
  printf '%s\n' "${results[@]}" > "$work/lines.txt"
  .venv/bin/python bench/charts.py --lines "$work/lines.txt" --latency "$work" --out "$out/charts" \
    --title "$(date -u +%Y-%m-%d) on $(nproc) cores ($commit)"
else
  echo "bench: a partial run (BENCH_SECTIONS/BENCH_CLIENTS); $out/charts/ kept as the last whole run drew them"
fi
