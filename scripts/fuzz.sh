#!/usr/bin/env bash
# Bounded fuzzing (fuzz/, cargo-fuzz + libFuzzer on nightly) of the parsers that take outside
# input: every target, or those named as arguments, for FUZZ_SECONDS each (default 60).
# Installs cargo-fuzz into ~/.cargo/bin once, when missing. The fuzz crate builds in its own
# target dir, $CARGO_TARGET_DIR/fuzz, so CI reuses the build; what a run learns (new inputs) is
# kept there too, and the committed seeds under fuzz/corpus/<target>/ are only read.
# Exits non-zero when any target crashed (or hung past FUZZ_TIMEOUT seconds on one input), naming
# the target and the input file, after running the others.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
# No sanitizer by default: the targets' code is safe Rust (the FFI target reads only slices it
# owns), and ASan would cost build time and executions. FUZZ_SANITIZER=address to have it.
sanitizer=${FUZZ_SANITIZER:-none}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
target_dir=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH="$cargo_bin:$PATH"

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "fuzz: rustup toolchain install $toolchain"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: cargo install cargo-fuzz (into $cargo_bin)"
  cargo install --locked --quiet cargo-fuzz@0.13.2
fi

# The fuzz build links the sidecar, so librdkafka: against the system OpenSSL here (libssl-dev, from
# install-deps.sh) rather than a third build of the vendored one that release artifacts link in.
export OPENSSL_NO_VENDOR=1
fuzz=(cargo "+$toolchain" fuzz)
opts=(--fuzz-dir fuzz --sanitizer "$sanitizer" --target-dir "$target_dir")
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz); fi

start=$SECONDS
mkdir -p "$target_dir/logs"
if ! "${fuzz[@]}" build "${opts[@]}" >"$target_dir/logs/build.log" 2>&1; then
  tail -n 40 "$target_dir/logs/build.log"
  echo "fuzz: the build failed (log: $target_dir/logs/build.log)"
  exit 1
fi
echo "fuzz: built in $((SECONDS - start)) s; running ${#targets[@]} targets for ${seconds} s each"

failed=()
for t in "${targets[@]}"; do
  corpus=$target_dir/corpus/$t
  artifacts=$PWD/fuzz/artifacts/$t
  log=$target_dir/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  if "${fuzz[@]}" run "${opts[@]}" "$t" "$corpus" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout="$timeout" -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    # The last status line: executions, coverage (cov: edges, ft: features), corpus size, execs/s.
    echo "fuzz: $t ok: $(grep -E '^#[0-9]+' "$log" | tail -n1)"
  else
    input=$(grep -oE '(Test unit|crash|timeout|leak|oom)[^/]* written to \S+|Failing input:\s*\S+' "$log" | grep -oE '\S+$' | tail -n1)
    echo "fuzz: $t FAILED; input: ${input:-(none written; see the log)}; log: $log"
    grep -E 'panicked at|^(==|SUMMARY|ERROR)' "$log" | head -n5 | sed 's/^/    /'
    [ -n "$input" ] && echo "    reproduce: cargo +$toolchain fuzz run ${opts[*]} $t $input"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran ${seconds} s without a crash ($((SECONDS - start)) s in all)"
