#!/usr/bin/env bash
# Runs inside the guest as root: applies the project's udev rules with Debian's systemd-udevd and
# checks what they promise — group access to /dev/uioN and the config space, stable symlinks, a
# driver that runs unprivileged in the group, and EACCES for everyone else.
#   scripts/guest/run.sh [--arch aarch64] -- scripts/guest/udev-check.sh   (run.sh unpacks Debian's udev and passes its folder)
set -euo pipefail
udev_root="${1:-$SWIFT_UIO_GUEST_UDEV}"
top="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "udev-check: FAILED: $*"; exit 1; }
pass() { echo "udev-check: ok: $*"; }

# A "uio" group with one member, and another user outside it, over the read-only /etc.
for file in group passwd; do cp "/etc/$file" "/run/$file"; done
echo "uio:x:990:driver" >> /run/group
echo "driver:x:990:990::/tmp:/bin/sh" >> /run/passwd
echo "other:x:991:991::/tmp:/bin/sh" >> /run/passwd
echo "other:x:991:" >> /run/group
mount --bind /run/group /etc/group
mount --bind /run/passwd /etc/passwd

# systemd tools refuse to act in a chroot, which is how the guest runs host programs.
export SYSTEMD_IGNORE_CHROOT=1
mkdir -p /run/udev/rules.d
cp "$top"/udev/70-uio.rules /run/udev/rules.d/
"$udev_root/lib/systemd/systemd-udevd" --daemon
"$udev_root/bin/udevadm" trigger --subsystem-match=uio --action=add
"$udev_root/bin/udevadm" settle --timeout=30

[ "$(stat -c %G:%a /dev/uio0)" = "uio:660" ] || fail "/dev/uio0 is $(stat -c %G:%a /dev/uio0), not uio:660"
pass "/dev/uio0 is group uio, mode 660"

# Runs a driver as user 'driver' (in group uio), then as 'other' (outside it), who must be refused.
check_privileges() {
    local name="$1"; shift
    echo "udev-check: the $name driver as user 'driver' (group uio):"
    setpriv --reuid=990 --regid=990 --init-groups "$@" || fail "the driver did not run unprivileged"
    pass "the $name driver ran unprivileged in group uio"
    echo "udev-check: the $name driver as user 'other' (not in group uio):"
    if output=$(setpriv --reuid=991 --regid=991 --clear-groups "$@" 2>&1); then
        fail "a user outside the group could drive the device"
    fi
    echo "$output" | grep "permission denied" || fail "the error does not say permission denied"
    pass "a user outside the group gets permission denied"
}

parent=$(readlink -f /sys/class/uio/uio0/device)
if [ "$(basename "$(readlink -f "$parent/subsystem")")" = platform ]; then
    # A device-tree node on uio_pdrv_genirq (the aarch64 guest).
    name=$(cat /sys/class/uio/uio0/name)
    [ "$(readlink -f "/dev/uio/by-name/$name")" = /dev/uio0 ] || fail "no /dev/uio/by-name/$name"
    pass "/dev/uio/by-name/$name -> /dev/uio0"
    [ ! -e /dev/uio/by-path ] || fail "a by-path link for a platform device: $(ls /dev/uio/by-path)"
    world=$(find /dev/uio* -maxdepth 0 -perm -o+w 2>/dev/null)
    [ -z "$world" ] || fail "world-writable: $world"
    pass "nothing world-writable"
    check_privileges PL031 "$top/.build/debug/pl031-driver" --alarms 2
    echo "udev-check: all passed"
    exit 0
fi

slot=$(basename "$parent")
[ "$(readlink -f "/dev/uio/by-path/pci-$slot")" = /dev/uio0 ] || fail "no /dev/uio/by-path/pci-$slot"
pass "/dev/uio/by-path/pci-$slot -> /dev/uio0"
config="/sys/bus/pci/devices/$slot/config"
[ "$(stat -c %G "$config")" = uio ] && [ $(( 0$(stat -c %a "$config") & 060 )) -eq 48 ] || fail "$config is $(stat -c %G:%a "$config")"
pass "$config is group-writable by uio"
world=$(find /dev/uio* -maxdepth 0 -perm -o+w 2>/dev/null; find /sys/bus/pci/devices/"$slot"/ -maxdepth 1 -perm -o+w -type f 2>/dev/null)
[ -z "$world" ] || fail "world-writable: $world"
pass "nothing world-writable"

check_privileges edu "$top/.build/debug/edu-driver" --interrupts 100 --factorial 10

echo "udev-check: the optional rule that binds listed PCI ids as they appear:"
echo "1234 11e8" > /sys/bus/pci/drivers/uio_pci_generic/remove_id   # forget the harness's new_id
echo "$slot" > "/sys/bus/pci/devices/$slot/driver/unbind"
[ ! -e /sys/class/uio/uio0 ] || fail "uio0 is still there after unbinding"
cp "$top"/udev/71-uio-pci-bind.rules /run/udev/rules.d/
"$udev_root/bin/udevadm" control --reload
"$udev_root/bin/udevadm" trigger --action=add "/sys/bus/pci/devices/$slot"
"$udev_root/bin/udevadm" settle --timeout=30
[ "$(cat "/sys/bus/pci/devices/$slot/driver_override")" = uio_pci_generic ] || fail "driver_override was not set"
[ -e /sys/class/uio/uio0 ] || fail "the rule did not bind $slot to uio_pci_generic"
[ "$(stat -c %G:%a /dev/uio0)" = "uio:660" ] || fail "the rebound /dev/uio0 is $(stat -c %G:%a /dev/uio0)"
pass "$slot bound to uio_pci_generic by the rule, and /dev/uio0 is uio:660 again"
