#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for SECONDS each (default 60) and print the
# executions of each. Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if
# it is missing. The seed corpus in fuzz/corpus/TARGET is read, never written: what the
# fuzzer learns goes to a scratch folder ($FUZZ_WORK, default target/fuzz/work). A crash
# is saved under fuzz/artifacts/TARGET/ and ends the script with status 1; replay it with
# `cargo +nightly fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-…`.
#
# The sanitizer is off (SANITIZER=none): the code under test is safe Rust, so ASAN adds
# nothing but a slower build and run. Set SANITIZER=address to use it anyway.
set -euo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(command config grant webhook_auth cron)
fi
sanitizer="${SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
work="${FUZZ_WORK:-$target_dir/work}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
# Build the same dependency versions as the main workspace.
[ -f "$here/Cargo.lock" ] || cp "$root/Cargo.lock" "$here/Cargo.lock"

cd "$here"
echo "building the fuzz targets (the first build compiles wasmtime: 10-20 minutes)"
for t in "${targets[@]}"; do
    cargo +nightly fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" "$t"
done

status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    log="$work/$t.log"
    echo "fuzzing $t for ${seconds}s"
    if cargo +nightly fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" \
        "$work/$t" "$here/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (see $log and fuzz/artifacts/$t/)"
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    summary+=("$(printf '%-13s %12s executions  %6s coverage points  %s' "$t" "${runs:-?}" "${cov:-?}" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit $status
