#!/usr/bin/env bash
# Runs a command in a Linux guest that has real UIO: Debian's kernel under QEMU with real UIO
# devices, and this machine's root shared read-only, so host-built programs run unchanged at the
# same paths. Prints the command's output; exits with its status. The options are in usage()
# below (--help). Each guest's kernel and board come from guest_ARCH in ARCH.sh, through the
# guest_* variables its header lists and nothing else.
#
# The guest's commands find the kernel's modules with
#   modprobe -d "$SWIFT_UIO_GUEST_KERNEL_ROOT" -S "$SWIFT_UIO_GUEST_KERNEL_VERSION" MODULE
# Downloads (kernel packages) and builds are cached in .cache/guest, which git ignores.
set -Eeuo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
source "$top/scripts/ensure-packages.sh"
source "$here/kernels.sh"
trap 'echo "run.sh: failed at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR

usage() {
    cat <<'USAGE'
usage: scripts/guest/run.sh [OPTION]... [--] COMMAND [ARG...]
Runs COMMAND in a QEMU guest with real UIO devices, in this directory, with the host's root
read-only; prints its output and exits with its status.
  --arch ARCH      x86_64 (default): edu devices on uio_pci_generic; aarch64: the virt board's
                   PL031 on uio_pdrv_genirq through the device tree, programs run by qemu-user
  --edu N          (x86_64) N edu PCI devices, ids edu0..eduN-1, on uio_pci_generic (default 1)
  --kernel K       the guest's Debian kernel: 6.1 (default, Debian 12's own), 6.12
                   (bookworm-backports) or 6.12-rt (its PREEMPT_RT build)
  --cpus N         N virtual CPUs (default 2)
  --timeout S      give up after S seconds (default 600) and print the guest's console log
  --env NAME       pass the host's variable NAME into the guest (repeatable)
  --share DIR      make the host's folder DIR writable in the guest, at the same path
  --hotplug        (x86_64) run the QEMU monitor command ("device_del edu1") the guest writes to
                   a file NAME.request in $SWIFT_UIO_GUEST_HOTPLUG; its answer goes to NAME.done;
                   with --iommu only a device behind a root port unplugs: --device
                   pcie-root-port,id=rp1,chassis=1,addr=0x18 --device edu,id=hotedu,bus=rp1
  --iommu          (x86_64) the q35 board with an Intel IOMMU, booted intel_iommu=on iommu=pt
                   (uio_pci_generic's DMA still works beside it)
  --vfio-device SPEC
                   (x86_64, implies --iommu) add QEMU's -device SPEC at slot 0x10, the next at
                   0x11 and so on, bound to vfio-pci; $SWIFT_UIO_GUEST_VFIO lists their addresses
                   in this order, space-separated: "0000:00:10.0 0000:00:11.0" (repeatable)
  --nic            (x86_64) an e1000 NIC on a QEMU hub of its own, no host network behind it;
                   without it the guest has no NIC at all (-nic none)
  --nic-hubs MODEL (x86_64) three NICs of QEMU's MODEL (e1000) on two hubs, no host network:
                   A (slot 0x08) and B (0x09) share hub 0, C (0x0a) has hub 1 with a port of
                   no device, without which C could never send; $SWIFT_UIO_GUEST_NICS lists
                   their addresses, A B C, space-separated; their ids (for device_del) are
                   hubnic0, hubnic1 and hubnic2
  --disk           (x86_64) a virtio-blk disk holding a fresh 8 MiB ext2 file system
  --hugepages N    reserve N huge pages at boot (hugepages=N), for DMA memory
  --systemd        boot systemd as init (PID 1, in the host's root, with Debian's udevd and
                   journald) and run COMMAND as its service swift-uio-command.service
  --device SPEC    add QEMU's -device SPEC, as "edu" or "virtio-rng-pci" (repeatable)
  --bind VEN:DEV   bind every PCI device of these hex ids to uio_pci_generic (repeatable)
  --qemu ARG       pass ARG to QEMU as it is (repeatable): --qemu -s for a gdb stub
  -h, --help       print this text
With --edu 0 and no --bind on x86_64, the guest loads no UIO module.
USAGE
}

arch=x86_64
kernel=6.1
edu=1
cpus=2
timeout_seconds=600
passed_env=()
share=""
hotplug=0
nic=0
nic_hubs=""
disk=0
extra_devices=()
pci_ids=()
qemu_args=()
hugepages=0
iommu=0
vfio_specs=()
systemd=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        --edu) edu="$2"; shift 2 ;;
        --kernel) kernel_suites "$2" >/dev/null || exit 2
                  kernel="$2"; shift 2 ;;
        --cpus) cpus="$2"; shift 2 ;;
        --timeout) timeout_seconds="$2"; shift 2 ;;
        --env) passed_env+=("$2"); shift 2 ;;
        --share) share="$(cd "$2" && pwd)"; shift 2 ;;
        --hotplug) hotplug=1; shift ;;
        --iommu) iommu=1; shift ;;
        --vfio-device) [[ "$2" != *addr=* ]] || { echo "run.sh: --vfio-device places the device itself: no addr= in $2" >&2; exit 2; }
                       vfio_specs+=("$2"); iommu=1; shift 2 ;;
        --nic) nic=1; shift ;;
        --nic-hubs) nic_hubs="$2"; shift 2 ;;
        --systemd) systemd=1; shift ;;
        --disk) disk=1; shift ;;
        --device) extra_devices+=(-device "$2"); shift 2 ;;
        --hugepages) [[ "$2" =~ ^[0-9]+$ ]] || { echo "run.sh: --hugepages takes a count" >&2; exit 2; }
                     hugepages="$2"; shift 2 ;;
        --bind) [[ "$2" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$ ]] \
                    || { echo "run.sh: --bind takes VENDOR:DEVICE in hex, as 1234:11e8" >&2; exit 2; }
                pci_ids+=("${2,,}"); shift 2 ;; # lower case, as sysfs spells ids
        --qemu) qemu_args+=("$2"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { usage >&2; exit 2; }

case "$arch" in
    x86_64) ;;
    aarch64) if [ "$edu" != 1 ] || [ "$hotplug" = 1 ] || [ "$nic" = 1 ] || [ -n "$nic_hubs" ] || [ "$disk" = 1 ] || [ "$iommu" = 1 ]; then
                 echo "run.sh: --edu, --hotplug, --nic, --nic-hubs, --disk, --iommu and --vfio-device are for the x86_64 guest" >&2; exit 2
             fi
             edu=0 ;;
    *) echo "run.sh: no guest for --arch $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac
# Slots 0x10 to 0x1e: q35 keeps 0x1f for its own functions.
if [ ${#vfio_specs[@]} -gt 15 ]; then
    echo "run.sh: at most 15 --vfio-device" >&2; exit 2
fi

cache="$top/.cache/guest"
mkdir -p "$cache"

# --- Debian's udev (this machine's architecture), unpacked (never installed), for tests of the
# project's udev rules in either guest
udev_root="$cache/udev"
if [ ! -x "$udev_root/lib/systemd/systemd-udevd" ]; then
    echo "==> fetching udev" >&2
    rm -rf "$udev_root" "$cache"/udev_*.deb
    (cd "$cache" && apt-get download -qq udev >/dev/null 2>&1)
    dpkg-deb -x "$cache"/udev_*.deb "$udev_root"
    rm -f "$cache"/udev_*.deb
    # The package links systemd-udevd to /bin/udevadm, which only an installed udev has.
    ln -sfn ../../bin/udevadm "$udev_root/lib/systemd/systemd-udevd"
fi
export SWIFT_UIO_GUEST_UDEV="$udev_root"
passed_env+=(SWIFT_UIO_GUEST_UDEV)

# --- the arch's kernel and board: guest_ARCH sets these, as ARCH.sh's header describes
guest_kernel_root="" guest_kernel_version="" guest_busybox="" guest_console=""
guest_uio_platform="" guest_binfmt="" guest_kernel_args=""
guest_initramfs_modules=() guest_qemu=()
declare -A guest_env=()
source "$here/$arch.sh"
"guest_$arch" "$cache" "$cpus" "$iommu" "$kernel"
for name in "${!guest_env[@]}"; do
    export "$name=${guest_env[$name]}"
    passed_env+=("$name")
done
modules_dir="$guest_kernel_root/lib/modules/$guest_kernel_version"
export SWIFT_UIO_GUEST_KERNEL_ROOT="$guest_kernel_root" SWIFT_UIO_GUEST_KERNEL_VERSION="$guest_kernel_version"
passed_env+=(SWIFT_UIO_GUEST_KERNEL_ROOT SWIFT_UIO_GUEST_KERNEL_VERSION)

# Packs the guest's static busybox, its initramfs modules (with what they depend on) and init.sh
# into $initramfs; rebuilt when init.sh changes.
build_initramfs() {
    initramfs="$cache/initramfs-$guest_kernel_version-$(sha256sum "$here/init.sh" | cut -c1-12).cpio.gz"
    if [ ! -f "$initramfs" ]; then
        echo "==> building the initramfs" >&2
        local staging module
        staging=$(mktemp -d)
        mkdir -p "$staging"/{bin,dev,proc,sys,modules}
        cp "$guest_busybox" "$staging/bin/busybox"
        cp "$here/init.sh" "$staging/init"
        chmod +x "$staging/init"
        for module in "${guest_initramfs_modules[@]}"; do
            modprobe -d "$guest_kernel_root" -S "$guest_kernel_version" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
        done | awk '!seen[$0]++' | while read -r path; do
            # Uncompressed: busybox's insmod takes a plain .ko (Debian's 6.12 ships .ko.xz).
            local name
            name=$(basename "${path%.xz}")
            case "$path" in
                *.xz) xz -dc "$path" > "$staging/modules/$name" ;;
                *) cp "$path" "$staging/modules/$name" ;;
            esac
            echo "$name" >> "$staging/modules/order"
        done
        (cd "$staging" && find . | cpio -o -H newc --quiet | gzip -1) > "$initramfs.tmp"
        mv "$initramfs.tmp" "$initramfs"
        rm -rf "$staging"
    fi
}
build_initramfs

# --- the command, written where the guest will find it (a writable share at the same path)
results=$(mktemp -d "$cache/run-XXXXXX")
trap 'rm -rf "$results"' EXIT
monitor=(-monitor none)
if [ "$hotplug" -eq 1 ]; then
    mkdir -p "$results/hotplug"
    monitor=(-monitor "unix:$results/monitor.sock,server,nowait")
    export SWIFT_UIO_GUEST_HOTPLUG="$results/hotplug"
    passed_env+=(SWIFT_UIO_GUEST_HOTPLUG)
fi

# --- the devices, in a fixed order, which decides their PCI slots: edu, the NIC, the disk, the
# share, then --device's
devices=()
[ "$edu" -eq 0 ] || pci_ids=(1234:11e8 "${pci_ids[@]}")
for index in $(seq 0 $((edu - 1))); do devices+=(-device "edu,id=edu$index"); done
if [ "$nic" -eq 1 ]; then
    devices+=(-netdev hubport,id=nic0,hubid=0 -device e1000,netdev=nic0)
else
    # QEMU's default NIC would be a device no test asked for.
    devices+=(-nic none)
fi
if [ "$disk" -eq 1 ]; then
    ensure_packages e2fsprogs
    truncate -s 8M "$results/disk.img"
    mkfs.ext2 -q -F "$results/disk.img"
    devices+=(-drive "file=$results/disk.img,format=raw,if=none,id=disk0" -device virtio-blk-pci,drive=disk0)
fi
if [ -n "$share" ]; then
    devices+=(-fsdev "local,id=share,path=$share,security_model=none,multidevs=remap" -device virtio-9p-pci,fsdev=share,mount_tag=share)
fi
devices+=("${extra_devices[@]}")
# The devices for vfio-pci, at fixed slots so the guest knows their addresses. They come first on
# QEMU's command line, so no device QEMU places itself can take one of their slots.
vfio_devices=() vfio_bdfs=()
for index in "${!vfio_specs[@]}"; do
    slot=$(printf '%02x' $((0x10 + index)))
    vfio_devices+=(-device "${vfio_specs[$index]},addr=0x$slot")
    vfio_bdfs+=("0000:00:$slot.0")
done
# The hub NICs, at fixed slots too.
if [ -n "$nic_hubs" ]; then
    [ "$nic" -eq 0 ] || { echo "run.sh: --nic and --nic-hubs both use hub 0: give one of them" >&2; exit 2; }
    vfio_devices+=(-netdev hubport,id=hubnic0,hubid=0 -device "$nic_hubs,id=hubnic0,netdev=hubnic0,addr=0x08"
                   -netdev hubport,id=hubnic1,hubid=0 -device "$nic_hubs,id=hubnic1,netdev=hubnic1,addr=0x09"
                   -netdev hubport,id=hubnic2,hubid=1 -device "$nic_hubs,id=hubnic2,netdev=hubnic2,addr=0x0a"
                   -netdev hubport,id=hubnic3,hubid=1)
    export SWIFT_UIO_GUEST_NICS="0000:00:08.0 0000:00:09.0 0000:00:0a.0"
    passed_env+=(SWIFT_UIO_GUEST_NICS)
fi
kernel_args=$guest_kernel_args
if [ ${#vfio_bdfs[@]} -gt 0 ]; then
    kernel_args+=" swiftuio.vfio=$(IFS=,; echo "${vfio_bdfs[*]}")"
    export SWIFT_UIO_GUEST_VFIO="${vfio_bdfs[*]}"
    passed_env+=(SWIFT_UIO_GUEST_VFIO)
fi
[ "$systemd" -eq 0 ] || kernel_args+=" swiftuio.systemd=1 swiftuio.udev=$SWIFT_UIO_GUEST_UDEV"
# The ids the guest binds to uio_pci_generic, each once: "1234:11e8,1af4:1005".
pci=$(printf '%s\n' "${pci_ids[@]}" | awk 'NF && !seen[$0]++' | paste -sd,)

{
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root SWIFT_UIO_GUEST=1 SWIFT_UIO_GUEST_ARCH=$arch"
    for name in "${passed_env[@]}"; do
        [ -n "${!name+set}" ] && printf 'export %s=%q\n' "$name" "${!name}"
    done
    printf 'cd %q || exit 125\n' "$PWD"
    printf 'exec'; printf ' %q' "$@"; printf '\n'
} > "$results/command.sh"


# A boot whose kernel panicked before the command started is made once more: 6.12 under TCG
# once died of an int3 in its own code patching at 2.9 s, before any of the project's code ran.
# Anything later is the command's, and is never retried.
for attempt in 1 2; do
    # Made before QEMU starts: `tail -f` below gives up at once on a file that is not there yet.
    : > "$results/console.log"
    started=$(date +%s%N)
    set +e
    timeout "$timeout_seconds" "${guest_qemu[@]}" \
        -display none -no-reboot -serial stdio "${monitor[@]}" \
        -initrd "$initramfs" \
        -append "console=$guest_console quiet panic=-1 swiftuio.results=$results swiftuio.modules=$modules_dir swiftuio.pci=$pci swiftuio.platform=$guest_uio_platform swiftuio.binfmt=$guest_binfmt swiftuio.top=$top swiftuio.share=$share hugepages=$hugepages${kernel_args:+ $kernel_args}" \
        "${vfio_devices[@]}" \
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev local,id=results,path="$results",security_model=none,multidevs=remap \
        -device virtio-9p-pci,fsdev=results,mount_tag=results \
        "${devices[@]}" "${qemu_args[@]}" < /dev/null >> "$results/console.log" 2>&1 &
    qemu=$!
    if [ "$hotplug" -eq 1 ]; then
        "$here/hotplug-server.sh" "$results/monitor.sock" "$results/hotplug" "$qemu" &
    fi
    # The guest's console, less the kernel's own power-off line; line by line (sed -u), so a command
    # that prints seldom is seen as it goes.
    tail -n +1 -f --pid=$qemu "$results/console.log" 2>/dev/null | sed -u 's/\r//g' | grep --line-buffered -v 'reboot: Power down$' || true
    wait $qemu
    qemu_status=$?
    set -e
    [ "$attempt" -eq 1 ] && [ ! -f "$results/status" ] && [ ! -e "$results/started" ] \
        && grep -q "Kernel panic" "$results/console.log" || break
    echo "==> guest: the kernel panicked before the command started: booting once more" >&2
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
elapsed="$((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000)))"

if [ -f "$results/status" ]; then
    status=$(cat "$results/status")
    echo "==> guest: command exited with $status after ${elapsed}s" >&2
    exit "$status"
fi
if [ $qemu_status -eq 124 ]; then
    echo "==> guest: timed out after ${timeout_seconds}s; the console log is above" >&2
else
    echo "==> guest: no exit status (QEMU exited with $qemu_status); the console log is above" >&2
fi
exit 1
