#!/usr/bin/env bash
# Fuzzes the parsers of untrusted text (sysfs attributes, /proc/interrupts, device selectors) and
# the config-space helpers with libFuzzer under AddressSanitizer.
#
#   scripts/fuzz.sh              10,000,000 executions from a random seed (the long, exploring run)
#   scripts/fuzz.sh --runs N     N executions from a random seed
#   scripts/fuzz.sh --smoke      200,000 executions from seed 1 and the committed corpus only
#                                (the test command runs this: the same inputs every time)
#
# Fuzz/corpus holds a small committed corpus (inputs that reach every target); the exploring runs
# grow .cache/fuzz-corpus (ignored by git) from it. A crash leaves its input in
# .cache/fuzz-crashes and fails the run. To add what an exploring run found to the committed
# corpus: .build-fuzz/release/fuzz-parsers -merge=1 Fuzz/corpus .cache/fuzz-corpus
# The smoke run also fails if the committed corpus reaches fewer edges than it should: a sign
# that the binary or the corpus no longer exercises the parsers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10000000
smoke=0
case "${1:-}" in
    --smoke) runs=200000; smoke=1 ;;
    --runs) runs="$2" ;;
esac
crashes=.cache/fuzz-crashes
if [ "$smoke" -eq 1 ]; then
    crashes=.cache/fuzz-crashes-smoke  # this run's findings only
    rm -rf "$crashes"
fi
mkdir -p .cache/fuzz-corpus "$crashes"
fuzzer=.build-fuzz/release/fuzz-parsers

# SwiftPM hands the Swift compiler one -sanitize= option per sanitizer, in an order that changes
# from run to run, and the compiler keeps only the last: half the builds had no coverage of the
# Swift code (37 counters, the C files', instead of thousands) and fuzzed nothing while passing.
# The combined option, given last, is kept whatever the order.
build() {
    (cd Fuzz && swift build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
        --scratch-path ../.build-fuzz > ../.cache/fuzz-build.log 2>&1) \
        || { cat .cache/fuzz-build.log; echo "==> building the fuzzer failed" >&2; exit 1; }
    tail -n 1 .cache/fuzz-build.log
}

# How many edges the fuzzer's binary counts: a binary without coverage of the Swift code runs and
# passes while it explores nothing, so it is refused.
counters() {
    local empty
    empty=$(mktemp -d)
    "$fuzzer" -runs=0 "$empty" 2>&1 | sed -n 's/.*Loaded 1 modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' | head -n 1
    rmdir "$empty"
}

echo "==> building the fuzzer (-sanitize=fuzzer,address)"
build
edges=$(counters)
[ "${edges:-0}" -ge 1000 ] || { echo "==> the fuzzer has no coverage of the Swift code (${edges:-no} counters)" >&2; exit 1; }
echo "==> the fuzzer counts $edges edges"
if [ "$smoke" -eq 1 ]; then
    # Deterministic: a fixed seed, and new inputs go to a scratch folder that starts empty, so
    # the run depends only on the committed corpus and the code.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    corpora=("$scratch" Fuzz/corpus)
    seed=(-seed=1)
    echo "==> fuzzing: $runs executions, seed 1, from the committed corpus"
else
    corpora=(.cache/fuzz-corpus Fuzz/corpus)
    seed=()
    echo "==> fuzzing: $runs executions"
fi
set +e
"$fuzzer" -runs="$runs" "${seed[@]}" -artifact_prefix="$crashes/" -print_final_stats=1 \
    "${corpora[@]}" > .cache/fuzz.log 2>&1
status=$?
set -e
grep -E '^Done|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|crash-|Seed:' .cache/fuzz.log || true
if [ "$smoke" -eq 1 ]; then
    covered=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' .cache/fuzz.log | head -n 1)
    echo "==> the committed corpus reaches ${covered:-0} edges"
    [ "${covered:-0}" -ge 300 ] || { echo "==> fuzzing: the corpus reaches too few edges (at least 300 expected)" >&2; exit 1; }
fi
found=$(ls "$crashes" | wc -l)
echo "==> fuzzing: exit status $status, $found crash input(s) kept in $crashes"
[ "$status" -eq 0 ] && [ "$found" -eq 0 ]
