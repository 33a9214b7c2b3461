#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time and prints a table of time,
# executions and crashes. Needs a nightly toolchain and cargo-fuzz; installs both when missing.
# CI does not run this: a crash found here is fixed, and its input kept as a test in the normal
# suite (crates/<crate>/tests/fuzz_regressions.rs).
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   SECONDS_EACH=300 scripts/fuzz.sh config sword
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-60}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

# Seeds: the shipped configs for the config parser; the rest start from nothing.
mkdir -p fuzz/corpus/config
cp configs/*.yaml configs/*/*.yaml configs/*/*/*.yaml fuzz/corpus/config/ 2>/dev/null || true

cd fuzz
cargo +nightly fuzz build --release
rows=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    log=$(mktemp)
    start=$(date +%s)
    # -fork keeps fuzzing past a crash so one run reports them all; each crash is an artifact.
    cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=4096 \
        -fork=1 -ignore_crashes=1 >"$log" 2>&1 || true
    took=$(( $(date +%s) - start ))
    # With -fork, each job prints its final stats; their executions add up.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}' || true)
    if [ "$execs" = 0 ]; then
        execs=$(grep -o 'exec/s: [0-9]*\|#[0-9]*' "$log" | grep '#' | tail -1 | tr -d '#' || true)
    fi
    after=$(ls "artifacts/$t" | wc -l)
    rows+=("| $t | $took | ${execs:-?} | $(( after - before )) |")
    rm -f "$log"
done
echo "| target | seconds | executions | new crashes |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "crash inputs, if any: fuzz/artifacts/<target>/"
