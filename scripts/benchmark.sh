#!/usr/bin/env bash
# Runs the benchmark suite and prints its figures as ratios against baselines measured in the
# same run; writes JSON, CSV and a latency plot (PNG) to .benchmarks/<time>/ (ignored by git),
# with .benchmarks/latest pointing at the newest.
#
#   scripts/benchmark.sh           the full suite (about 4 minutes once built)
#   scripts/benchmark.sh --smoke   a short run that proves every part works (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
ensure_packages pkg-config libudev-dev gnuplot-nox gcc

scale_seconds=2 platform_rounds=6 platform_seconds=2 size=()
if [ "${1:-}" = "--smoke" ]; then
    export UIO_BENCH_SMOKE=1
    scale_seconds=0.2 platform_rounds=2 platform_seconds=0.3 size=(--smoke)
fi
out="$PWD/.benchmarks/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
ln -sfn "$out" .benchmarks/latest

echo "==> building the benchmarks (release)"
(cd Benchmarks && swift build -c release 2>&1 | tail -n 1)
tool=Benchmarks/.build/release/uio-bench

echo "==> host: allocations, MMIO (ordo-one/benchmark)"
(cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target InterruptBenchmarks \
    --no-progress --format histogramPercentiles --path "$out" > "$out/ordo-one.log" 2>&1) \
    || { cat "$out/ordo-one.log"; exit 1; }

echo "==> host: the interrupt path on an eventfd, framework against C (raise -> ISR, raise -> DPC, hand-off)"
"$tool" native --out "$out" "${size[@]}"

echo "==> host: locks, framework against an inline C ticket lock, pthread_spin_lock and pthread_mutex"
"$tool" locks --out "$out" "${size[@]}"

echo "==> host: the DPC's wait for the interrupt lock, with and without a busy thread on every CPU, framework against C (c)"
"$tool" hog --out "$out" "${size[@]}"

echo "==> host: scale, simulated interrupt sources"
"$tool" scale --out "$out" --objects 1,8,64 --seconds "$scale_seconds"

echo "==> guest: interrupt latency on edu, framework against the raw C loop; allocations on the ISR and DPC threads"
echo "    (host: nice $(nice), load average $(cut -d' ' -f1-3 /proc/loadavg))"
# Counts allocations per thread when preloaded; built here so no build of the project links it.
cc -O2 -shared -fPIC -I Benchmarks/Sources/CBaselines/include -o "$out/allocation_counter.so" \
    Benchmarks/AllocationCounter/allocation_counter.c
# One boot for both: the counter is preloaded into the second command only.
scripts/guest/run.sh --edu 1 --share "$out" -- sh -c \
    '"$1" latency --out "$2" $3 && LD_PRELOAD="$2/allocation_counter.so" "$1" allocations --out "$2"' \
    sh "$tool" "$out" "${size[*]:-}"

echo "==> guest (6.12-rt, PREEMPT_RT): interrupt latency under a CPU hog, the ISR thread at SCHED_FIFO against normal priority and against the raw C loop at SCHED_FIFO"
scripts/guest/run.sh --kernel 6.12-rt --edu 1 --share "$out" -- "$tool" realtime --out "$out" "${size[@]}"

echo "==> guest: DMA copies through edu's engine, framework against C with no framework (edu's 100 ms timer dominates)"
# A boot of its own, with huge pages for the DMA buffers of both sides.
scripts/guest/run.sh --edu 1 --hugepages 4 --share "$out" -- "$tool" dma --out "$out" "${size[@]}"

echo "==> guest: interrupt latency, VFIO MSI against UIO INTx, framework against C loops doing the same (read() on the eventfd, on the uio fd)"
echo "    (host: nice $(nice), load average $(cut -d' ' -f1-3 /proc/loadavg))"
# A boot of its own: one edu on vfio-pci (behind an IOMMU), one on uio_pci_generic.
scripts/guest/run.sh --edu 1 --vfio-device edu --share "$out" -- "$tool" vfio --out "$out" "${size[@]}"

echo "==> aarch64 guest: the irqcontrol re-arm path on the PL031, framework against the raw C loop"
scripts/guest/run.sh --arch aarch64 --cpus 1 --share "$out" -- "$tool" platform --out "$out" --rounds "$platform_rounds" --seconds "$platform_seconds"

echo "==> report"
"$tool" report --dir "$out" | tee "$out/summary.txt"

gnuplot <<PLOT
set terminal pngcairo size 900,560 noenhanced
set output "$out/latency.png"
set title "Interrupt round trip on QEMU's edu device (raise -> handler entered), TCG guest"
set xlabel "percentile"
set ylabel "microseconds"
set logscale y
set key top left
set grid
plot "$out/latency-percentiles.tsv" using 1:2 with lines linewidth 2 title "swift-uio ISR", \
     "$out/latency-percentiles.tsv" using 1:3 with lines linewidth 2 title "raw C loop (read)"
PLOT
echo "==> wrote $out: summary.txt, summary.csv, summary.json, latency.png and the raw figures"
