#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's instrumentation (the flags
# `cargo fuzz build` sets, without needing cargo-fuzz itself) and runs each
# for SECONDS, starting from the committed seeds in fuzz/corpus/TARGET
# (what a run finds goes to target/fuzz-corpus/TARGET, not into the
# repository). Fails on any crash, panic (a property that did not hold),
# single allocation over 16 MiB (fuzz_targets/bounded_alloc.rs) or 2 GB
# of memory in all; the input that did it is saved under
# target/fuzz-artifacts/TARGET/. Prints each target's runs, executions per
# second and coverage (edges, features).
#
#   bash fuzz/run.sh [SECONDS] [TARGET ...]     # 30 s each, every target
#
# Needs the nightly toolchain (rustup toolchain install nightly) and a C++
# compiler for libFuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(http_head url forward rules json_body oauth_form headers cose webauthn jose)
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
CARGO_TARGET_DIR=target/fuzz-build cargo +nightly build --quiet --release \
    --manifest-path fuzz/Cargo.toml --target "$triple" --bins
printf '| target | seconds | runs | exec/s | edges | features | crashes |\n| --- | --- | --- | --- | --- | --- | --- |\n'
failed=()
for target in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$target
    artifacts=target/fuzz-artifacts/$target/
    mkdir -p "$corpus" "$artifacts"
    log=target/fuzz-artifacts/$target.log
    status=0
    "target/fuzz-build/$triple/release/$target" "$corpus" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed+=("$target")
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$seconds" "${runs:-?}" \
        "${speed:-?}" "${edges:-?}" "${features:-?}" "$crashes"
done
if [ ${#failed[@]} -ne 0 ]; then
    for target in "${failed[@]}"; do
        echo "fuzz/run.sh: $target failed; its log:" >&2
        grep -E -A12 'panicked|ERROR: libFuzzer|SUMMARY' "target/fuzz-artifacts/$target.log" | head -40 >&2
        ls "target/fuzz-artifacts/$target/" >&2
    done
    exit 1
fi
