#!/usr/bin/env bash
# Runs inside the x86_64 guest as root, with an edu device on uio_pci_generic, an e1000 NIC and a
# virtio disk: `uioctl bind` refuses a driver that is not one, gives a device back to its driver
# when the new one refuses it, and takes no device a kernel driver is using (an interface up, a
# file system mounted) unless forced; nor does `uioctl unbind`.
#   scripts/guest/run.sh --edu 1 --nic --disk -- scripts/guest/pci-bind-check.sh
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
uioctl="$top/.build/debug/uioctl"
fail() { echo "pci-bind-check: FAILED: $*"; exit 1; }
started=$(date +%s%N)
pass() { echo "pci-bind-check: ok: $* ($(( ($(date +%s%N) - started) / 1000000 )) ms)"; }
load() { modprobe -d "$SWIFT_UIO_GUEST_KERNEL_ROOT" -S "$SWIFT_UIO_GUEST_KERNEL_VERSION" "$1"; }
slot_of() {
    for device in /sys/bus/pci/devices/*; do
        [ "$(cat "$device/vendor"):$(cat "$device/device")" = "$1" ] && { basename "$device"; return; }
    done
    fail "no PCI device $1"
}
driver_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" || echo none)"; }
override_of() { cat "/sys/bus/pci/devices/$1/driver_override"; }
# Runs uioctl, which must fail saying $1; prints what it said.
refused() {
    local expected="$1"; shift
    local output
    if output=$("$uioctl" "$@" 2>&1); then fail "uioctl $* succeeded: $output"; fi
    echo "  uioctl $*: $output"
    [[ "$output" == *"$expected"* ]] || fail "uioctl $* did not say \"$expected\""
}
# Waits up to 5 s for a path to exist.
wait_for() { for _ in $(seq 50); do compgen -G "$1" > /dev/null && return 0; sleep 0.1; done; fail "$1 did not appear"; }

edu=$(slot_of 0x1234:0x11e8)
nic=$(slot_of 0x8086:0x100e)
disk=$(slot_of 0x1af4:0x1001)

refused "is not a driver's name" bind "$edu" --driver ../uio_pci_generic
refused "no such pci driver is loaded" bind "$edu" --driver no_such_driver
[ "$(driver_of "$edu")" = uio_pci_generic ] || fail "$edu is on $(driver_of "$edu") after a refused driver name"
pass "a driver name that is a path, or names no loaded driver, is refused; $edu stays on uio_pci_generic"

# virtio-pci refuses a device outside its ids (its probe returns -ENODEV).
refused "virtio-pci did not take the device; given back to uio_pci_generic" bind "$edu" --driver virtio-pci
[ "$(driver_of "$edu")" = uio_pci_generic ] || fail "$edu is on $(driver_of "$edu") after the failed bind"
[ "$(override_of "$edu")" = "(null)" ] || fail "$edu's driver_override is $(override_of "$edu")"
[ -e "/sys/bus/pci/devices/$edu/uio" ] || fail "$edu has no UIO device after the rollback"
pass "a driver that refuses $edu: back on uio_pci_generic, driver_override cleared, its UIO device back"

load e1000
wait_for "/sys/bus/pci/devices/$nic/net/*"
interface=$(ls "/sys/bus/pci/devices/$nic/net")
ip link set "$interface" up
refused "e1000 is using it: network interface $interface is up" bind "$nic"
refused "e1000 is using it: network interface $interface is up" unbind "$nic"
[ "$(driver_of "$nic")" = e1000 ] || fail "$nic left e1000 though refused"
pass "bind and unbind of the NIC with $interface up are refused, naming the interface; still on e1000"

ip link set "$interface" down
refused "virtio-pci did not take the device; given back to e1000" bind "$nic" --driver virtio-pci
[ "$(driver_of "$nic")" = e1000 ] && [ "$(override_of "$nic")" = "(null)" ] || fail "$nic is on $(driver_of "$nic"), override $(override_of "$nic")"
wait_for "/sys/bus/pci/devices/$nic/net/*"
pass "a driver that refuses the NIC: back on e1000 with its interface $(ls "/sys/bus/pci/devices/$nic/net"), driver_override cleared"

interface=$(ls "/sys/bus/pci/devices/$nic/net")
ip link set "$interface" up
"$uioctl" bind "$nic" --force
[ "$(driver_of "$nic")" = uio_pci_generic ] || fail "--force did not bind $nic"
[ ! -e "/sys/bus/pci/devices/$nic/net" ] || fail "$nic still has an interface"
pass "--force takes the NIC with its interface up"

load virtio_blk
load ext4
wait_for "/sys/bus/pci/devices/$disk/virtio*/block/vda"
wait_for /dev/vda
mkdir -p /tmp/disk
mount -t ext2 /dev/vda /tmp/disk
refused "virtio-pci is using it: vda is mounted on /tmp/disk" bind "$disk"
[ "$(driver_of "$disk")" = virtio-pci ] && mountpoint -q /tmp/disk || fail "the mounted disk was taken"
pass "the disk mounted on /tmp/disk is refused, naming the mount; still mounted"
umount /tmp/disk
"$uioctl" bind "$disk"
[ "$(driver_of "$disk")" = uio_pci_generic ] || fail "the unmounted disk was not bound"
pass "once unmounted, the disk binds"
echo "pci-bind-check: all passed"
