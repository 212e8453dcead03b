#!/usr/bin/env bash
# Runs the pub/sub quickstart of one language as the Dapr docs do, with `dapr-rs run` in place of
# `dapr run`: the subscriber (checkout) first, then the publisher (orderprocessing). Exits 0 once
# every published order was received by the subscriber.
# Usage: scripts/quickstart.sh [language] [resources dir]; the resources dir defaults to
# samples/components (the embedded broker); samples/components-redis runs it on Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
lang=${1:-python}
# The cargo-built `dapr-rs`, unless a language installs its own (DAPR_RS_BIN overrides either).
# Cargo's release dir: the Makefile's (it builds for the host's triple by name), else cargo's own.
release_dir=${DAPR_RS_RELEASE_DIR:-${CARGO_TARGET_DIR:-target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release}
default_bin=$release_dir/dapr-rs
components=${2:-${QUICKSTART_RESOURCES:-samples/components}}
orders=${ORDER_COUNT:-10}
log=$(mktemp -d)
trap 'kill $sub_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$log"' EXIT

case $lang in
  python)
    dir=samples/pub_sub/python
    # As a user would: the `dapr-rs` command `pip install ./bindings-python` (make python) put in the venv.
    default_bin=.venv/bin/dapr-rs
    sub_cmd=("$PWD/.venv/bin/python" CheckoutService.py)
    pub_cmd=("$PWD/.venv/bin/python" OrderProcessingService.py)
    sub_flags=(--app-protocol grpc); pub_flags=(--app-protocol grpc)
    ;;
  javascript)
    dir=samples/pub_sub/javascript
    # As a user would: `npm install` links the dapr-rs package (its addon is built by `make node`),
    # whose `dapr-rs` command (`npx dapr-rs`) runs both apps.
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    # A node_modules installed before the package had its `bin` lacks the link: npm rebuild makes it.
    [ -e "$dir/node_modules/.bin/dapr-rs" ] || (cd "$dir" && npm rebuild dapr-rs --loglevel=error)
    default_bin=$dir/node_modules/.bin/dapr-rs
    sub_cmd=(node CheckoutService.js)
    pub_cmd=(node OrderProcessingService.js)
    sub_flags=(--app-protocol http); pub_flags=(--app-protocol http)
    ;;
  csharp)
    dir=samples/pub_sub/csharp
    # Compiled with Mono's mcs against the DaprRs assembly `make dotnet` builds; the native library
    # goes beside each program, as the NuGet package's build targets put it.
    for svc in CheckoutService OrderProcessingService; do
      mkdir -p "$dir/$svc/bin"
      cp bindings-dotnet/bin/DaprRs.dll bindings-dotnet/bin/libdapr_rs_ffi.so "$dir/$svc/bin/"
      mcs -nologo -langversion:7 -r:"$dir/$svc/bin/DaprRs.dll" -out:"$dir/$svc/bin/$svc.exe" "$dir/$svc"/*.cs
    done
    sub_cmd=(mono CheckoutService/bin/CheckoutService.exe)
    pub_cmd=(mono OrderProcessingService/bin/OrderProcessingService.exe)
    sub_flags=(--app-protocol http); pub_flags=(--app-protocol http)
    ;;
  java)
    dir=samples/pub_sub/java
    # As a user would: Maven builds both programs against the dapr-rs jar `make jvm` installed into
    # the local repository (never the source tree), and copies the jar and its dependencies to target/lib.
    version=$(make -s version)
    (cd "$dir" && mvn -q -B --no-transfer-progress -Dstyle.color=never -Ddapr-rs.version="$version" compile)
    sub_cmd=(java -cp 'target/classes:target/lib/*' CheckoutService)
    pub_cmd=(java -cp 'target/classes:target/lib/*' OrderProcessingService)
    sub_flags=(--app-protocol grpc); pub_flags=(--app-protocol grpc)
    ;;
  rust)
    dir=samples/pub_sub/rust
    # As a user would: cargo builds both programs (a workspace member: the sidecar's lock file and
    # target dir), then they run as built, as the C# programs do.
    cargo build --release -p dapr-rs-pubsub-quickstart
    sub_cmd=("$(realpath "$release_dir")/checkout-service")
    pub_cmd=("$(realpath "$release_dir")/order-processing-service")
    sub_flags=(--app-protocol grpc); pub_flags=(--app-protocol grpc)
    ;;
  *) echo "unknown quickstart language: $lang" >&2; exit 2 ;;
esac
bin=$(realpath "${DAPR_RS_BIN:-$default_bin}")
resources=$(realpath "$components")

echo "=== $lang quickstart: subscriber 'checkout' on app port 6002 ==="
(cd "$dir" && exec "$bin" run --app-id checkout --app-port 6002 --dapr-http-port 3602 "${sub_flags[@]}" \
   --resources-path "$resources" -- "${sub_cmd[@]}") > >(tee "$log/sub.log") 2>&1 &
sub_pid=$!

echo "=== $lang quickstart: publisher 'orderprocessing' ==="
(cd "$dir" && ORDER_COUNT=$orders "$bin" run --app-id orderprocessing --app-port 6001 --dapr-http-port 3601 "${pub_flags[@]}" \
   --resources-path "$resources" -- "${pub_cmd[@]}") 2>&1 | tee "$log/pub.log"

# An order is its number (Python, JavaScript, C#) or {"orderId":n} (Java, Rust).
order='(\{"orderId": ?)?[0-9]+\}?'
published=$(grep -oE "Published data: ?$order" "$log/pub.log" | grep -oE '[0-9]+' | sort | uniq -c | sort -k2)
count=$(grep -cE "Published data: ?$order" "$log/pub.log" || true)
if [ "$count" -ne "$orders" ]; then
  echo "quickstart: the publisher published $count orders, expected $orders" >&2; exit 1
fi
# Every published order must reach the subscriber (at least once).
deadline=$((SECONDS + 30))
while :; do
  missing=0
  while read -r n id; do
    got=$(grep -cE "Subscriber received ?: ?(\\{\"orderId\": ?)?$id\\}?\$" "$log/sub.log" || true)
    [ "$got" -ge "$n" ] || missing=$((missing + 1))
  done <<< "$published"
  [ "$missing" -eq 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo "quickstart: $missing of the published orders never reached the subscriber" >&2; exit 1
  fi
  sleep 0.2
done
kill -TERM "$sub_pid"; wait "$sub_pid" || true
echo "=== $lang quickstart: all $orders orders published and received ==="
