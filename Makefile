# dapr-rs: the two commands a user needs are `make quickstart` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# Every cargo build here names the host's target triple, as `napi build` always does: cargo keeps a
# build for a named triple apart from one for none, so otherwise the Node addon compiled the whole
# tree a second time (6 of a cold CI run's minutes). The sidecar, the wheel (maturin reads this
# variable too), the addon, the C ABI library and the JVM library share one build of each crate.
ifndef CARGO_BUILD_TARGET
CARGO_BUILD_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
$(if $(CARGO_BUILD_TARGET),,$(error no host triple from `rustc -vV`))
endif
export CARGO_BUILD_TARGET
# Where cargo puts release builds for that triple.
export DAPR_RS_RELEASE_DIR := $(CARGO_TARGET_DIR)/$(CARGO_BUILD_TARGET)/release
PY := $(CURDIR)/.venv/bin/python
SIDECAR := $(DAPR_RS_RELEASE_DIR)/dapr-rs
export DAPR_RS_BIN := $(SIDECAR)
# The one version of every artifact: Cargo.toml's `[workspace.package] version`. Every crate takes
# it (`dapr-rs --version`, `dapr_rs.__version__`), maturin gives it to the wheel, `make node` stamps it
# into package.json, bindings-dotnet into the assembly and the .nupkg, `make dist` into the names.
VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
$(if $(VERSION),,$(error no version in Cargo.toml's [workspace.package]))
DIST := $(CURDIR)/dist
# The wheel's platform: the oldest glibc whose symbols the native module may use (auditwheel show
# on the built wheel names it; with OpenSSL linked in statically, glibc is all it needs). maturin
# refuses to tag a wheel that needs more, so a build on a newer glibc fails here instead of lying.
WHEEL_PLATFORM := manylinux_2_34_x86_64
WHEEL := $(DIST)/dapr_rs-$(VERSION)-cp39-abi3-$(WHEEL_PLATFORM).whl
# Every test suite runs under a deadline well inside CI's limit: a suite that hangs fails, naming
# itself, instead of holding CI until it is stopped. Each test inside has its own deadline too.
SUITE_DEADLINE = timeout --kill-after=30 --signal=TERM

.PHONY: quickstart quickstart-redis quickstart-kafka test deps sidecar python node dotnet jvm nuget dist version test-dist test-rust test-python test-node test-dotnet test-jvm test-js-interop test-dashboard test-fuzz fuzz chaos lint bench clean

## quickstart: build, start both quickstart apps under `dapr-rs run` on the embedded broker, show the flow
## (Python, then JavaScript, then C#, then Java, then Rust: its case of the script builds it with cargo).
quickstart: deps sidecar python node dotnet jvm
	scripts/quickstart.sh python
	scripts/quickstart.sh javascript
	scripts/quickstart.sh csharp
	scripts/quickstart.sh java
	scripts/quickstart.sh rust

## quickstart-redis: the same quickstarts, apps unchanged, on the quickstart's own Redis component
## (samples/components-redis; `make deps` makes sure Redis runs on localhost:6379).
quickstart-redis: deps sidecar python node dotnet jvm
	scripts/quickstart.sh python samples/components-redis
	scripts/quickstart.sh javascript samples/components-redis
	scripts/quickstart.sh csharp samples/components-redis
	scripts/quickstart.sh java samples/components-redis
	scripts/quickstart.sh rust samples/components-redis

## quickstart-kafka: the same quickstarts, apps unchanged, on Apache Kafka (samples/components-kafka;
## `make deps` makes sure Kafka runs on localhost:9092).
quickstart-kafka: deps sidecar python node dotnet jvm
	scripts/quickstart.sh python samples/components-kafka
	scripts/quickstart.sh javascript samples/components-kafka
	scripts/quickstart.sh csharp samples/components-kafka
	scripts/quickstart.sh java samples/components-kafka
	scripts/quickstart.sh rust samples/components-kafka

## test: every test of the repository.
test: deps sidecar python node dotnet jvm test-rust test-python test-node test-dotnet test-jvm test-js-interop test-dashboard test-fuzz test-dist

deps:
	scripts/install-deps.sh

sidecar:
	cargo build --release -p dapr-rs-cli

# The wheel `make dist` ships, built once (a release build by maturin, the `cli` feature on: the
# `dapr-rs` command inside), then installed into .venv from that file as a user installs it.
python: deps
	rm -f $(DIST)/dapr_rs-$(VERSION)-*.whl
	$(CURDIR)/.venv/bin/maturin build --quiet --release -m bindings-python/Cargo.toml -i $(PY) \
	  --compatibility $(firstword $(subst _x86_64, ,$(WHEEL_PLATFORM))) --auditwheel check -o $(DIST)
	$(PY) -m pip install -q --force-reinstall --no-deps $(WHEEL)

# What a user runs is `npm install ./bindings-node` (its install script builds the addon when none is
# there); here the release build runs every time, so Rust changes reach the addon (a no-op when none).
# The version goes into package.json first: napi-rs writes it into the loader it generates.
node: deps
	cd bindings-node && npm pkg set version=$(VERSION) && npm run --silent build

# The .NET binding under Mono (bindings-dotnet/Makefile): the native library, the DaprRs assembly,
# and dist/DaprRs.<version>.nupkg.
dotnet: deps
	$(MAKE) -C bindings-dotnet lib VERSION=$(VERSION)

nuget: deps
	$(MAKE) -C bindings-dotnet nuget VERSION=$(VERSION)

# The JVM binding (bindings-jvm): one release build of the cdylib (and the uniffi-bindgen beside it),
# the Kotlin generated from that library into bindings-jvm/target-kotlin, the library copied where
# JNA loads it in the jar, then the jar installed into the local Maven repository (~/.m2) as
# io.dapr-rs:dapr-rs:$(VERSION), where the Java quickstart and users' projects find it.
JVM_NATIVE := bindings-jvm/target-native/linux-x86-64
MVN := mvn -B --no-transfer-progress -Dstyle.color=never -Drevision=$(VERSION)
jvm: deps
	cargo build --release -p dapr-rs-jvm
	rm -rf bindings-jvm/target-kotlin
	$(DAPR_RS_RELEASE_DIR)/uniffi-bindgen generate --library $(DAPR_RS_RELEASE_DIR)/libdapr_rs_jvm.so \
	  --language kotlin --no-format --out-dir bindings-jvm/target-kotlin
	mkdir -p $(JVM_NATIVE) && cp $(DAPR_RS_RELEASE_DIR)/libdapr_rs_jvm.so $(JVM_NATIVE)/
	cd bindings-jvm && $(MVN) -q -Dmaven.test.skip=true install

version:
	@echo $(VERSION)

## dist: the release artifacts of $(VERSION) in dist/, each with a .sha256 beside it: the wheel,
## the npm tarball, the .nupkg, the JVM jar with its pom, and the CLI tarball. Made from what
## `make python`, `make node`, `make nuget`, `make jvm` and `make sidecar` built: nothing compiles twice.
JAR := $(DIST)/dapr-rs-$(VERSION).jar
JAR_POM := $(DIST)/dapr-rs-$(VERSION).pom
dist: python node nuget jvm sidecar
	cp bindings-jvm/target/dapr-rs-$(VERSION).jar $(JAR)
	@# The pom as a user's Maven reads it (`mvn install:install-file -DpomFile=`): its dependencies
	@# (Kotlin, coroutines, JNA), with the version flatten-maven-plugin wrote in for $${revision},
	@# the same pom `make jvm` installs into the local repository.
	cp bindings-jvm/target/.flattened-pom.xml $(JAR_POM)
	grep -q '<version>$(VERSION)</version>' $(JAR_POM)
	! grep -q '$${revision}' $(JAR_POM)
	scripts/dist.sh $(VERSION) $(DIST) $(WHEEL) $(SIDECAR) $(JAR) $(JAR_POM)

# Every artifact of dist/ installed where there is no Rust toolchain (a fresh venv, an empty npm
# project, a C# project fed only the .nupkg with the CLI tarball's dapr-rs), each running the
# quickstart to its last order; prints the artifacts' sizes and the time from install to first order.
test-dist: dist
	$(SUITE_DEADLINE) 900 $(PY) -m pytest tests/dist -q

# The bindings are tested from their languages (test-python, test-node, test-dotnet), not as Rust
# test binaries.
test-rust:
	$(SUITE_DEADLINE) 1800 cargo test --workspace --exclude dapr-rs-python --exclude dapr-rs-node --exclude dapr-rs-ffi --exclude dapr-rs-jvm

# test_cli_install.py installs `make python`'s wheel (DAPR_RS_WHEEL) instead of building one;
# tests/dist is `make test-dist`'s.
test-python: python node dotnet sidecar
	DAPR_RS_WHEEL=$(WHEEL) $(SUITE_DEADLINE) 1200 $(PY) -m pytest bindings-python/tests tests -q --ignore=tests/dist

test-node: node sidecar
	cd bindings-node && $(SUITE_DEADLINE) 600 node --test --test-timeout=120000 __test__/

# NUnit under Mono against the real sidecar, and the .nupkg consumed by a user's project.
test-dotnet: dotnet sidecar
	$(SUITE_DEADLINE) 900 $(MAKE) -C bindings-dotnet test VERSION=$(VERSION)

# JUnit 5 (surefire) against the real sidecar ($(SIDECAR)), the shared vectors included, and a Java
# program built against the installed jar publishing to a Python subscriber (bindings-jvm/tests).
test-jvm: jvm sidecar python
	cd bindings-jvm && $(SUITE_DEADLINE) 900 $(MVN) test
	$(SUITE_DEADLINE) 600 $(PY) -m pytest bindings-jvm/tests -q

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

bench: deps sidecar python node dotnet jvm
	scripts/bench.sh

clean:
	cargo clean
	rm -rf .venv dist bindings-jvm/target bindings-jvm/target-kotlin bindings-jvm/target-native bindings-dotnet/bin bindings-dotnet/src/Native/NativeMethods.g.cs
