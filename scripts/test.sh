#!/usr/bin/env bash
# Runs every test of swift-uio: the unit suites (discovery against a umockdev sysfs), the
# integration suites in a guest with a real kernel (Debian's 6.1 and 6.12) and real edu devices,
# and in an aarch64 guest with a real platform device on uio_pdrv_genirq, the example drivers (the edu device, a PL031,
# an e1000 NIC forwarding between two others) and the udev rules in the guest, the systemd units
# (verified, and run in a guest booted with systemd), the unit suites again under
# ThreadSanitizer and AddressSanitizer, a short fuzzing run and a short benchmark run. Installs
# what it needs on Debian 12 (as root or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh

ensure_packages pkg-config libudev-dev umockdev libumockdev-dev
tests=swift-uioPackageTests.xctest
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Fails unless the run's closing line counts at least one test and nothing was skipped:
# a suite that quietly did not run is a failure.
require_ran() {
    local log="$1" what="$2"
    grep -Eq 'Test run with [1-9][0-9]* tests? .*passed' "$log" || { echo "==> $what: no test ran" >&2; exit 1; }
    if grep -q ' skipped' "$log"; then echo "==> $what: tests were skipped" >&2; grep ' skipped' "$log" >&2; exit 1; fi
}

# The standard library's Mutex locks in code ThreadSanitizer cannot see: under contention every
# access it guards is reported as a race. The framework and its tests use UIOPlatform's Locked.
echo "==> no Synchronization.Mutex in Sources/ or Tests/"
if grep -rnE '\bMutex[<(]' Sources Tests; then echo "==> use Locked (UIOPlatform), which ThreadSanitizer sees" >&2; exit 1; fi

echo "==> building"
swift build --build-tests

echo "==> the systemd units in deploy/: systemd-analyze verify"
scripts/verify-units.sh

echo "==> unit tests, with libudev reading a umockdev sysfs"
SWIFT_UIO_REQUIRE_UMOCKDEV=1 umockdev-wrapper ".build/debug/$tests" --testing-library swift-testing --skip GuestTests 2>&1 \
    | tee "$logs/unit.log"
require_ran "$logs/unit.log" "unit tests"

# The guest suites on each kernel the harness boots (scripts/guest/kernels.sh): Debian 12's own
# 6.1 and bookworm-backports' 6.12. What differs between them is read from the running kernel,
# never from its version (Sources/UIO/UIO.docc/KernelContract.md).
for kernel in 6.1 6.12; do
    echo "==> integration tests in the guest ($kernel): a real kernel, two edu devices on uio_pci_generic, huge pages for DMA, hot-plug through QEMU's monitor"
    # Its leak suite alone runs minutes of cycles under emulation: the bound is for a hung guest, with
    # room for a loaded machine (the step takes ~5 min alone, ~10 min with builds beside it).
    scripts/guest/run.sh --kernel "$kernel" --edu 2 --hotplug --hugepages 8 --timeout 1800 --env SWIFT_UIO_REQUIRE_GUEST -- \
        ".build/debug/$tests" --testing-library swift-testing --filter GuestTests --skip PlatformGuestTests --skip VFIOGuestTests 2>&1 | tee "$logs/guest.log"
    require_ran "$logs/guest.log" "guest tests ($kernel)"

    echo "==> VFIO in the guest ($kernel): q35 with an Intel IOMMU, edu (MSI, INTx, DMA through the IOMMU) and e1000e (five MSI-X vectors) on vfio-pci, and an edu behind a PCIe root port to unplug"
    scripts/guest/run.sh --kernel "$kernel" --edu 0 --vfio-device edu --vfio-device e1000e --hotplug \
        --device pcie-root-port,id=rp1,chassis=1,addr=0x18 --device edu,id=hotedu,bus=rp1 --timeout 900 --env SWIFT_UIO_REQUIRE_GUEST -- \
        ".build/debug/$tests" --testing-library swift-testing --filter VFIOGuestTests 2>&1 | tee "$logs/vfio.log"
    require_ran "$logs/vfio.log" "VFIO guest tests ($kernel)"
done

# On 6.1 twice: on two CPUs the driver's threads run in parallel; on one, a thread that waits for
# a lock runs only when the holder is descheduled, which is where starvation shows. On 6.12 once,
# on two CPUs.
for run in "6.1 2" "6.1 1" "6.12 2"; do
    read -r kernel cpus <<< "$run"
    echo "==> integration tests in the aarch64 guest ($kernel, $cpus CPUs): QEMU's PL031 as a device-tree generic-uio device on uio_pdrv_genirq"
    scripts/guest/run.sh --arch aarch64 --kernel "$kernel" --cpus "$cpus" --env SWIFT_UIO_REQUIRE_GUEST -- \
        ".build/debug/$tests" --testing-library swift-testing --filter PlatformGuestTests 2>&1 | tee "$logs/platform.log"
    require_ran "$logs/platform.log" "aarch64 guest tests ($kernel, $cpus CPUs)"
done

echo "==> the edu example driver in the guest"
scripts/guest/run.sh --edu 1 --hugepages 4 -- .build/debug/edu-driver --interrupts 200

echo "==> the edu example as systemd services, in a guest booted with systemd: started by udev on uio_pci_generic and on vfio-pci, ready after D0 entry, a dynamic user, stopped by systemctl, by device_del and by the unbind, started by device_add"
scripts/guest/run.sh --systemd --hotplug --edu 0 --vfio-device edu --bind 1234:11e8 --timeout 900 \
    --device pcie-root-port,id=rp1,chassis=1,addr=0x18 --device edu,id=edu0,bus=rp1 -- \
    scripts/guest/systemd-check.sh edu,id=edu0,bus=rp1 vfio

echo "==> the e1000 NIC example in the guest: three e1000s on two hubs, pktgen on A, fwd B → C by interrupt (NAPI) and by polling; counts, payloads and interrupts checked, no allocation on the forwarding threads over 10^6 packets; C unplugged under the forwarder"
# The allocation counter of the benchmarks, preloaded into the forwarder: built here, outside
# every build of the project.
cc -O2 -shared -fPIC -I Benchmarks/Sources/CBaselines/include -o .build/allocation_counter.so \
    Benchmarks/AllocationCounter/allocation_counter.c
scripts/guest/run.sh --edu 0 --bind 8086:100e --hugepages 24 --nic-hubs e1000 --hotplug --timeout 900 -- \
    scripts/guest/nic-check.sh "$PWD/.build/allocation_counter.so"

echo "==> the edu example's DMA copies while another program opens and closes the node (Bus Master lost under it)"
scripts/guest/run.sh --edu 1 --hugepages 4 -- scripts/guest/edu-dma-check.sh

echo "==> the PL031 example driver in the aarch64 guest"
scripts/guest/run.sh --arch aarch64 -- .build/debug/pl031-driver --alarms 5

echo "==> VFIO without root: uioctl bind --driver vfio-pci, the VFIO udev rule, the driver in group vfio under a memlock limit, an unmapped DMA faulting"
scripts/guest/run.sh --edu 1 --vfio-device edu -- scripts/guest/vfio-check.sh

echo "==> uioctl bind and unbind of a platform device through driver_override, in the aarch64 guest"
scripts/guest/run.sh --arch aarch64 -- scripts/guest/platform-bind-check.sh

echo "==> uioctl bind of PCI devices in the guest: refused driver names, rollback, an interface up and a mounted disk refused, --force"
scripts/guest/run.sh --edu 1 --nic --disk -- scripts/guest/pci-bind-check.sh

echo "==> the udev rules in the guest, applied by systemd-udevd; the driver unprivileged"
scripts/guest/run.sh --edu 1 --nic --hugepages 2 -- scripts/guest/udev-check.sh
echo "==> the udev rules for a platform device, in the aarch64 guest"
scripts/guest/run.sh --arch aarch64 -- scripts/guest/udev-check.sh

echo "==> the documentation (DocC), warnings as errors"
swift package generate-documentation --target UIO --target UIODriver --target UIOService --target UIOTesting --target UIOControl \
    --warnings-as-errors 2>&1 | tail -n 5

echo "==> the unit suites again under ThreadSanitizer"
swift build --build-tests --sanitize=thread --scratch-path .build-tsan
TSAN_OPTIONS="halt_on_error=1" ".build-tsan/debug/$tests" --testing-library swift-testing --skip GuestTests --skip Discovery

echo "==> the unit suites under AddressSanitizer"
swift build --build-tests --sanitize=address --scratch-path .build-asan
ASAN_OPTIONS="detect_leaks=0" ".build-asan/debug/$tests" --testing-library swift-testing --skip GuestTests --skip Discovery \
    2>&1 | tee "$logs/asan.log"
require_ran "$logs/asan.log" "AddressSanitizer run"

echo "==> fuzzing, short"
scripts/fuzz.sh --smoke

echo "==> the benchmark suite, short (its figures are not asserted)"
scripts/benchmark.sh --smoke
