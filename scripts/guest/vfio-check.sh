#!/usr/bin/env bash
# Runs inside the x86_64 guest as root, on the IOMMU board, with one edu on uio_pci_generic and
# vfio-pci loaded: `uioctl bind --driver vfio-pci` moves the edu to VFIO; the project's VFIO udev
# rule, installed with its own command, gives group vfio the group node and nobody else; the
# example driver runs as an unprivileged member (MSI, DMA through the IOMMU) within a stated
# locked-memory limit, and below it is refused with advice; unprivileged, a DMA to memory it did
# not map faults in the IOMMU and lands nowhere; the edu goes back to uio_pci_generic.
#   scripts/guest/run.sh --edu 1 --vfio-device edu -- scripts/guest/vfio-check.sh
set -euo pipefail
udev_root="$SWIFT_UIO_GUEST_UDEV"
top="$(cd "$(dirname "$0")/../.." && pwd)"
uioctl="$top/.build/debug/uioctl"
fail() { echo "vfio-check: FAILED: $*"; exit 1; }
pass() { echo "vfio-check: ok: $*"; }
faults() { dmesg | grep -c "DMAR: \[DMA Write" || true; }

# A "vfio" group with one member, and another user outside it, over the read-only /etc.
for file in group passwd; do cp "/etc/$file" "/run/$file"; done
echo "vfio:x:992:driver" >> /run/group
echo "driver:x:992:992::/tmp:/bin/sh" >> /run/passwd
echo "other:x:993:993::/tmp:/bin/sh" >> /run/passwd
echo "other:x:993:" >> /run/group
mount --bind /run/group /etc/group
mount --bind /run/passwd /etc/passwd

uio_slot=$(basename "$(readlink -f /sys/class/uio/uio0/device)")
"$uioctl" bind "$uio_slot" --driver vfio-pci
[ "$(basename "$(readlink "/sys/bus/pci/devices/$uio_slot/driver")")" = vfio-pci ] || fail "$uio_slot is not on vfio-pci"
[ ! -e /sys/class/uio/uio0 ] || fail "uio0 is still there"
group=$(basename "$(readlink "/sys/bus/pci/devices/$uio_slot/iommu_group")")
[ -c "/dev/vfio/$group" ] || fail "no /dev/vfio/$group"
pass "uioctl bind --driver vfio-pci moved $uio_slot from uio_pci_generic to vfio-pci: IOMMU group $group"
"$uioctl" list --all | grep "$uio_slot" | grep -q "vfio-pci *$group" || fail "uioctl list --all does not show $uio_slot on vfio-pci in group $group"
pass "uioctl list --all shows it on vfio-pci, IOMMU group $group"

export SYSTEMD_IGNORE_CHROOT=1
export PATH="$udev_root/bin:$PATH"
install_command=$(grep -m1 '^#  *udevadm control --reload' "$top/udev/73-vfio.rules" | sed 's/^# *//')
[ -n "$install_command" ] || fail "73-vfio.rules gives no install command"
mkdir -p /run/udev/rules.d
"$udev_root/lib/systemd/systemd-udevd" --daemon
udevadm control --ping --timeout=30   # the daemon has read its rules (see udev-check.sh)
[ "$(stat -c %U:%G:%a "/dev/vfio/$group")" = root:root:600 ] || fail "/dev/vfio/$group is $(stat -c %U:%G:%a "/dev/vfio/$group") before the rules"
cp "$top"/udev/73-vfio.rules /run/udev/rules.d/
echo "vfio-check: running the rule's install command: $install_command"
eval "$install_command"
udevadm settle --timeout=30
for node in /dev/vfio/[0-9]*; do
    [ "$(stat -c %U:%G:%a "$node")" = root:vfio:660 ] || fail "$node is $(stat -c %U:%G:%a "$node"), not root:vfio:660"
done
[ "$(stat -c %a /dev/vfio/vfio)" = 666 ] || fail "/dev/vfio/vfio is $(stat -c %a /dev/vfio/vfio)"
pass "every group node is root:vfio:660; the container stays 666"

driver=("$top/.build/debug/edu-driver" --backend vfio --device "$uio_slot" --interrupts 100 --factorial 10 --dma-copies 2)
# Two 4 KiB buffers pinned; a stated limit of 64 KiB is enough.
echo "vfio-check: the edu driver as user 'driver' (group vfio, RLIMIT_MEMLOCK 64 KiB):"
before=$(faults)
prlimit --memlock=65536 setpriv --reuid=992 --regid=992 --init-groups "${driver[@]}" || fail "the driver did not run unprivileged"
[ "$(faults)" = "$before" ] || fail "the unprivileged driver's DMA faulted in the IOMMU"
pass "the edu driver ran unprivileged in group vfio: MSI, DMA through the IOMMU, every byte checked, no IOMMU fault"

echo "vfio-check: the same with RLIMIT_MEMLOCK 4 KiB (too little for two buffers):"
if output=$(prlimit --memlock=4096 setpriv --reuid=992 --regid=992 --init-groups "${driver[@]}" 2>&1); then
    fail "DMA ran past the locked-memory limit: $output"
fi
echo "$output" | grep "Error:" || true
echo "$output" | grep -q "RLIMIT_MEMLOCK, 4 KiB" || fail "the error does not name the limit"
pass "past RLIMIT_MEMLOCK the buffer is refused, the error naming the limit and how to raise it"

echo "vfio-check: the edu driver as user 'other' (not in group vfio):"
if output=$(setpriv --reuid=993 --regid=993 --clear-groups "${driver[@]}" 2>&1); then
    fail "a user outside the group could drive the device"
fi
echo "$output" | grep "permission denied" || fail "the error does not say permission denied: $output"
pass "a user outside the group gets permission denied"

echo "vfio-check: the VFIO suite's DMA tests as user 'driver': copies through the IOMMU, and a write to an address nothing is mapped at:"
before=$(faults)
prlimit --memlock=65536 setpriv --reuid=992 --regid=992 --init-groups "$top/.build/debug/swift-uioPackageTests.xctest" \
    --testing-library swift-testing --filter "dmaThroughTheIOMMU|unmappedIOVAFaults" 2>&1 | tee /tmp/vfio-dma.log
grep -Eq "Test run with 2 tests .*passed" /tmp/vfio-dma.log || fail "the DMA tests did not both pass unprivileged"
[ "$(faults)" -gt "$before" ] || fail "the stray DMA did not fault in the IOMMU"
pass "unprivileged, the device's write to an unmapped address faulted in the IOMMU and changed no buffer (dmesg: $(dmesg | grep "DMAR: \[DMA Write" | tail -1 | sed 's/^\[[^]]*\] //'))"

echo "vfio-check: uioctl refuses to take a device whose VFIO group a driver has open:"
"$top/.build/debug/edu-driver" --backend vfio --device "$uio_slot" --interrupts 0 --factorial 5 --dma-copies 0 --serve > /tmp/serving.log 2>&1 &
serving=$!
holds_group() { ls -l "/proc/$serving/fd" 2>/dev/null | grep -q "/dev/vfio/$group\$"; }
for _ in $(seq 100); do holds_group && break; sleep 0.1; done
holds_group || fail "the driver did not open the group: $(cat /tmp/serving.log)"
if output=$("$uioctl" unbind "$uio_slot" 2>&1); then fail "uioctl unbind took a device in use: $output"; fi
echo "  uioctl unbind: $output"
[[ "$output" == *"IOMMU group $group is open"* ]] || fail "the refusal does not name the open group"
[ "$(basename "$(readlink "/sys/bus/pci/devices/$uio_slot/driver")")" = vfio-pci ] || fail "$uio_slot left vfio-pci"
kill -TERM "$serving"
wait "$serving" || true
pass "uioctl unbind of a device whose group is open is refused, naming the group; the driver keeps it"

"$uioctl" bind "$uio_slot"
[ -e /sys/class/uio/uio0 ] || fail "$uio_slot did not go back to uio_pci_generic"
pass "uioctl bind took $uio_slot back to uio_pci_generic"
echo "vfio-check: all passed"
