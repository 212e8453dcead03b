#!/usr/bin/env bash
# Installs what `make test` and `make quickstart` need on a fresh Debian machine that has Rust,
# Python 3 and Node: system packages (apt; Mono for the .NET binding), the Python test environment (.venv, from PyPI) and the
# JS packages from npm: the Node binding's build and test tools (bindings-node/node_modules) and the
# JS interop suite's official SDK (tests/interop-js/node_modules).
# Idempotent and quiet when everything is already there.
# `scripts/install-deps.sh bench` (scripts/bench.sh runs it) adds what only `make bench` needs:
# valgrind (instruction counts), redis-benchmark (redis-tools) and matplotlib (the charts).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=false; [ "${1:-}" = bench ] && bench=true

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v readelf >/dev/null || need_apt+=(binutils)  # make test-dist reads what the artifacts link
# librdkafka (pubsub.kafka) is built from source against the system OpenSSL (TLS, SASL SCRAM) and zlib.
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
pkg-config --exists zlib 2>/dev/null || need_apt+=(zlib1g-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# .NET binding: Mono's C# compiler and class libraries, nuget (pack / install), NUnit's console
# runner (no Microsoft .NET SDK needed); python3 reads NUnit's results for the summary line.
command -v mcs >/dev/null || need_apt+=(mono-mcs)
command -v xbuild >/dev/null || need_apt+=(mono-devel)
command -v nuget >/dev/null || need_apt+=(nuget)
command -v nunit-console >/dev/null || need_apt+=(nunit-console)
pkg-config --exists nunit 2>/dev/null || need_apt+=(libnunit-cil-dev)  # nunit.framework.dll for the tests' build
# JVM binding: a JDK (17) and Maven, which fetches the rest (Kotlin, JNA, JUnit) from Maven Central.
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# The dashboard test loads `dapr-rs dashboard` in headless Chromium (Debian's, driven by playwright-core).
command -v chromium >/dev/null || need_apt+=(chromium)
if $bench; then
  command -v valgrind >/dev/null || need_apt+=(valgrind)
  command -v redis-benchmark >/dev/null || need_apt+=(redis-tools)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Python: one venv for the binding, its tests and the official SDK used for interop.
# dapr 1.19 ships dapr.ext.grpc inside its own wheel ([grpc] extra); the legacy dapr-ext-grpc
# distribution would overwrite it with an older copy, so it must not be installed.
# OpenTelemetry: the binding's optional context propagation, and the tracing test's OTLP receiver.
# prometheus-client: its text parser reads the sidecars' /metrics in tests/e2e/test_metrics.py.
# FastAPI, uvicorn and Flask: dapr_rs.ext's web frameworks, served for real in its tests.
# auditwheel: `make test-dist` checks the wheel's manylinux tag with it.
PY_REQS="maturin==1.16.* auditwheel==6.* pytest==9.* pytest-timeout==2.* mypy==1.* pydantic==2.* dapr[grpc]==1.19.0 grpcio grpcio-reflection opentelemetry-api==1.45.* opentelemetry-sdk==1.45.* opentelemetry-proto==1.45.* prometheus-client==0.26.* fastapi==0.* uvicorn==0.* flask==3.*"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.deps-$(echo "$PY_REQS" | md5sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "install-deps: pip install $PY_REQS"
  .venv/bin/python -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install -q $PY_REQS
  if .venv/bin/python -m pip show -q dapr-ext-grpc >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y dapr-ext-grpc
    .venv/bin/python -m pip install -q --force-reinstall --no-deps "dapr==1.19.0"
  fi
  touch "$stamp"
fi

if $bench && ! .venv/bin/python -c 'import matplotlib' 2>/dev/null; then
  echo "install-deps: pip install matplotlib (bench charts)"
  .venv/bin/python -m pip install -q 'matplotlib==3.*'
fi

# Node: @napi-rs/cli (builds the addon), typescript and @types/node (the types test), as locked.
node_stamp=bindings-node/node_modules/.deps-$(cat bindings-node/package.json bindings-node/package-lock.json | md5sum | cut -c1-12)
if [ ! -f "$node_stamp" ]; then
  echo "install-deps: npm ci (bindings-node)"
  # --ignore-scripts: the package's own install script builds the addon; `make node` does that.
  (cd bindings-node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$node_stamp"
fi

# JS: the official SDK for the JS interop suite, exactly as package-lock.json pins it. No install
# scripts are needed (all of it is plain JS), so none run.
lock=tests/interop-js/package-lock.json
js_stamp=tests/interop-js/node_modules/.deps-$(md5sum <"$lock" | cut -c1-12)
if [ ! -f "$js_stamp" ]; then
  echo "install-deps: npm ci in tests/interop-js"
  (cd tests/interop-js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$js_stamp"
fi

# JS: playwright-core for the dashboard test (tests/dashboard), as locked; it drives the system's
# Chromium, so no browser is downloaded (no install scripts run).
lock=tests/dashboard/package-lock.json
dash_stamp=tests/dashboard/node_modules/.deps-$(md5sum <"$lock" | cut -c1-12)
if [ ! -f "$dash_stamp" ]; then
  echo "install-deps: npm ci in tests/dashboard"
  (cd tests/dashboard && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$dash_stamp"
fi

# Brokers on loopback for the conformance suite and the Redis quickstart.
scripts/start-brokers.sh
