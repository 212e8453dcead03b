# dapr-rs: the two commands a user needs are `make quickstart` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PY := $(CURDIR)/.venv/bin/python
SIDECAR := $(CARGO_TARGET_DIR)/release/dapr-rs
export DAPR_RS_BIN := $(SIDECAR)
# Every test suite runs under a deadline well inside CI's limit: a suite that hangs fails, naming
# itself, instead of holding CI until it is stopped. Each test inside has its own deadline too.
SUITE_DEADLINE = timeout --kill-after=30 --signal=TERM

.PHONY: quickstart quickstart-redis quickstart-kafka test deps sidecar python node dotnet nuget test-rust test-python test-node test-dotnet test-js-interop test-dashboard test-fuzz fuzz chaos lint bench clean

## quickstart: build, start both quickstart apps under `dapr-rs run` on the embedded broker, show the flow
## (Python, then JavaScript, then C#, then Rust: its case of the script builds it with cargo).
quickstart: deps sidecar python node dotnet
	scripts/quickstart.sh python
	scripts/quickstart.sh javascript
	scripts/quickstart.sh csharp
	scripts/quickstart.sh rust

## quickstart-redis: the same quickstarts, apps unchanged, on the quickstart's own Redis component
## (samples/components-redis; `make deps` makes sure Redis runs on localhost:6379).
quickstart-redis: deps sidecar python node dotnet
	scripts/quickstart.sh python samples/components-redis
	scripts/quickstart.sh javascript samples/components-redis
	scripts/quickstart.sh csharp samples/components-redis
	scripts/quickstart.sh rust samples/components-redis

## quickstart-kafka: the same quickstarts, apps unchanged, on Apache Kafka (samples/components-kafka;
## `make deps` makes sure Kafka runs on localhost:9092).
quickstart-kafka: deps sidecar python node dotnet
	scripts/quickstart.sh python samples/components-kafka
	scripts/quickstart.sh javascript samples/components-kafka
	scripts/quickstart.sh csharp samples/components-kafka
	scripts/quickstart.sh rust samples/components-kafka

## test: every test of the repository.
test: deps sidecar python node dotnet test-rust test-python test-node test-dotnet test-js-interop test-dashboard test-fuzz

deps:
	scripts/install-deps.sh

sidecar:
	cargo build --release -p dapr-rs-cli

# What a user runs: `pip install ./bindings-python` (a release build by maturin).
python: deps
	$(PY) -m pip install -q ./bindings-python

# What a user runs is `npm install ./bindings-node` (its install script builds the addon when none is
# there); here the release build runs every time, so Rust changes reach the addon (a no-op when none).
node: deps
	cd bindings-node && npm run --silent build

# The .NET binding under Mono (bindings-dotnet/Makefile): the native library, the DaprRs assembly,
# and dist/DaprRs.<version>.nupkg.
dotnet: deps
	$(MAKE) -C bindings-dotnet lib

nuget: deps
	$(MAKE) -C bindings-dotnet nuget

# The bindings are tested from their languages (test-python, test-node, test-dotnet), not as Rust
# test binaries.
test-rust:
	$(SUITE_DEADLINE) 1800 cargo test --workspace --exclude dapr-rs-python --exclude dapr-rs-node --exclude dapr-rs-ffi

test-python: python node dotnet sidecar
	$(SUITE_DEADLINE) 1200 $(PY) -m pytest bindings-python/tests tests -q

test-node: node sidecar
	cd bindings-node && $(SUITE_DEADLINE) 600 node --test --test-timeout=120000 __test__/

# NUnit under Mono against the real sidecar, and the .nupkg consumed by a user's project.
test-dotnet: dotnet sidecar
	$(SUITE_DEADLINE) 900 $(MAKE) -C bindings-dotnet test

# The official JS SDK (npm @dapr/dapr, pinned in tests/interop-js/package-lock.json) against the
# sidecar, by node's own test runner.
test-js-interop: deps sidecar
	cd tests/interop-js && $(SUITE_DEADLINE) 600 node --test --test-timeout=120000

# `dapr-rs dashboard` in headless Chromium (Debian's, driven by playwright-core pinned in
# tests/dashboard/package-lock.json): two apps under `dapr-rs run`, known traffic, a dead letter, a
# screenshot checked. UPDATE_SCREENSHOT=1 refreshes docs/dashboard.png.
test-dashboard: deps sidecar
	cd tests/dashboard && $(SUITE_DEADLINE) 300 node --test --test-timeout=180000

# The fault-injection suite (tests/chaos/): every durable component, every fault, N=20000 messages
# per case through real sidecars and private brokers; appends its table to tests/chaos/REPORT.md and
# fails on any acknowledged message that was never delivered. `make test-python` runs its short
# version (tests/chaos/test_chaos_short.py). CHAOS_ARGS e.g. "--n 5000 --components redis".
chaos: python sidecar
	$(PY) tests/chaos/suite.py --report $(CHAOS_ARGS)

# Every fuzz target briefly (fuzz/, cargo-fuzz on nightly): a crash fails the tests and names the input.
test-fuzz:
	FUZZ_SECONDS=$${FUZZ_TEST_SECONDS:-10} scripts/fuzz.sh

## fuzz: every fuzz target for FUZZ_SECONDS each (default 60), or FUZZ_TARGETS="cloudevent bulk" only;
## exits non-zero on a crash, naming the target and the crashing input (fuzz/artifacts/<target>/).
fuzz:
	scripts/fuzz.sh $(FUZZ_TARGETS)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: deps sidecar python node dotnet
	scripts/bench.sh

clean:
	cargo clean
	rm -rf .venv dist/DaprRs.*.nupkg bindings-dotnet/bin bindings-dotnet/src/Native/NativeMethods.g.cs
