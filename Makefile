# dapr-rs: the two commands a user needs are `make quickstart` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PY := $(CURDIR)/.venv/bin/python
SIDECAR := $(CARGO_TARGET_DIR)/release/dapr-rs
export DAPR_RS_BIN := $(SIDECAR)

.PHONY: quickstart quickstart-redis test deps sidecar python test-rust test-python test-js-interop lint bench clean

## quickstart: build, start both quickstart apps under `dapr-rs run` on the embedded broker, show the flow.
quickstart: deps sidecar python
	scripts/quickstart.sh python

## quickstart-redis: the same quickstart, apps unchanged, on the quickstart's own Redis component
## (samples/components-redis; `make deps` makes sure Redis runs on localhost:6379).
quickstart-redis: deps sidecar python
	scripts/quickstart.sh python samples/components-redis

## test: every test of the repository.
test: deps sidecar python test-rust test-python test-js-interop

deps:
	scripts/install-deps.sh

sidecar:
	cargo build --release -p dapr-rs-sidecar

# What a user runs: `pip install ./bindings-python` (a release build by maturin).
python: deps
	$(PY) -m pip install -q ./bindings-python

test-rust:
	cargo test --workspace --exclude dapr-rs-python

test-python: python sidecar
	$(PY) -m pytest bindings-python/tests tests -q

# The official JS SDK (npm @dapr/dapr, pinned in tests/interop-js/package-lock.json) against the
# sidecar, by node's own test runner.
test-js-interop: deps sidecar
	cd tests/interop-js && node --test

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: deps sidecar python
	scripts/bench.sh

clean:
	cargo clean
	rm -rf .venv
