#!/usr/bin/env bash
# Fuzzes the parsers of untrusted text (sysfs attributes, /proc/interrupts, device selectors) and
# the config-space helpers with libFuzzer under AddressSanitizer.
#
#   scripts/fuzz.sh              10,000,000 executions (the long run)
#   scripts/fuzz.sh --runs N     N executions
#   scripts/fuzz.sh --smoke      200,000 executions (the test command runs this)
#
# The corpus grows in .cache/fuzz-corpus (ignored by git); a crash leaves its input in
# .cache/fuzz-crashes and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10000000
case "${1:-}" in
    --smoke) runs=200000 ;;
    --runs) runs="$2" ;;
esac
mkdir -p .cache/fuzz-corpus .cache/fuzz-crashes
echo "==> building the fuzzer (-sanitize=fuzzer,address)"
(cd Fuzz && swift build -c release --sanitize=fuzzer --sanitize=address --scratch-path ../.build-fuzz > ../.cache/fuzz-build.log 2>&1) \
    || { cat .cache/fuzz-build.log; echo "==> building the fuzzer failed" >&2; exit 1; }
tail -n 1 .cache/fuzz-build.log
echo "==> fuzzing: $runs executions"
set +e
.build-fuzz/release/fuzz-parsers -runs="$runs" -artifact_prefix=.cache/fuzz-crashes/ -print_final_stats=1 \
    .cache/fuzz-corpus > .cache/fuzz.log 2>&1
status=$?
set -e
grep -E '^Done|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|crash-' .cache/fuzz.log || true
crashes=$(ls .cache/fuzz-crashes | wc -l)
echo "==> fuzzing: exit status $status, $crashes crash input(s) kept"
[ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]
