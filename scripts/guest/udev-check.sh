#!/usr/bin/env bash
# Runs inside the guest as root: applies the project's udev rules with Debian's systemd-udevd,
# installed with the README's own command, and checks what they promise — group access to
# /dev/uioN and the config space and no more (resourceN only through the opt-in, I/O BARs never),
# stable symlinks, a driver that runs unprivileged in the group, EACCES for everyone else, and
# root's permissions back once the device leaves uio_pci_generic.
#   scripts/guest/run.sh [--arch aarch64] -- scripts/guest/udev-check.sh   (run.sh unpacks Debian's udev and passes its folder)
#   scripts/guest/run.sh --edu 1 --nic --hugepages 2 -- scripts/guest/udev-check.sh   (the NIC has an I/O BAR; huge pages for DMA)
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
export PATH="$udev_root/bin:$PATH"
# The install command exactly as the README gives it (and as the rules file's header repeats
# it), run after the rules are copied, against devices that were there before udevd started.
install_command=$(grep -m1 '^udevadm control --reload' "$top/README.md") || fail "the README has no udevadm install line"
grep -qF "$install_command" "$top/udev/70-uio.rules" || fail "70-uio.rules does not give the README's command: $install_command"
mkdir -p /run/udev/rules.d
"$udev_root/lib/systemd/systemd-udevd" --daemon
# --daemon returns from the fork, before the daemon has read its rules: a rules file copied in
# that window is seen by neither the first read nor the reload (the folder's time is not newer
# than the one recorded). The ping is answered from the main loop, after the first read, as on a
# machine whose udevd has long been running.
udevadm control --ping --timeout=30
[ "$(stat -c %G:%a /dev/uio0)" = "root:600" ] || fail "/dev/uio0 is $(stat -c %G:%a /dev/uio0) before the rules"
cp "$top"/udev/70-uio.rules /run/udev/rules.d/
echo "udev-check: running the README's command: $install_command"
eval "$install_command"
udevadm settle --timeout=30

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

# What a PCI parent's file is: owner:group:mode.
perms() { stat -c %U:%G:%a "/sys/bus/pci/devices/$1/$2"; }
# The kernel makes config 0644 and resourceN 0600, both root's; the rules must come back to that.
[ "$(perms "$slot" config)" = root:uio:664 ] || fail "config is $(perms "$slot" config), not root:uio:664"
pass "config is writable by group uio (root:uio:664): the INTx re-arm"
[ "$(perms "$slot" resource0)" = root:root:600 ] || fail "resource0 is $(perms "$slot" resource0) without the opt-in"
pass "resource0 stays root:root:600 without the opt-in rule"
world=$(find /dev/uio* -maxdepth 0 -perm -o+w 2>/dev/null; find /sys/bus/pci/devices/"$slot"/ -maxdepth 1 -perm -o+w -type f 2>/dev/null)
[ -z "$world" ] || fail "world-writable: $world"
pass "nothing world-writable"

# No DMA: its physical addresses need CAP_SYS_ADMIN, which the group does not give.
check_privileges edu "$top/.build/debug/edu-driver" --interrupts 100 --factorial 10 --dma-copies 0

echo "udev-check: DMA as user 'driver' (group uio, no CAP_SYS_ADMIN), huge pages reserved:"
if output=$(setpriv --reuid=990 --regid=990 --init-groups "$top/.build/debug/edu-driver" --interrupts 0 --factorial 5 --dma-copies 1 2>&1); then
    fail "DMA ran without CAP_SYS_ADMIN: $output"
fi
echo "$output" | grep "Error:" || true
echo "$output" | grep -q "STATUS_ACCESS_DENIED.*CAP_SYS_ADMIN" || fail "the error is not access denied naming CAP_SYS_ADMIN"
pass "DMA without CAP_SYS_ADMIN is refused before the device sees an address: pagemap gives frame 0, the error names the capability"

echo "udev-check: the opt-in rule for resourceN:"
cp "$top"/udev/72-uio-pci-resources.rules /run/udev/rules.d/
eval "$install_command"
udevadm settle --timeout=30
[ "$(perms "$slot" resource0)" = root:uio:660 ] || fail "resource0 is $(perms "$slot" resource0) with the opt-in"
pass "with 72-uio-pci-resources.rules, edu's memory BAR resource0 is root:uio:660"
nic=$(for device in /sys/bus/pci/devices/*; do [ "$(cat "$device/vendor"):$(cat "$device/device")" = 0x8086:0x100e ] && basename "$device"; done)
if [ -n "$nic" ]; then
    # e1000: BAR0 memory, BAR1 I/O ports (IORESOURCE_IO, 0x100).
    [ $(( $(sed -n 2p "/sys/bus/pci/devices/$nic/resource" | cut -d' ' -f3) & 0x100 )) -ne 0 ] || fail "the NIC's BAR1 is not an I/O BAR"
    "$top/.build/debug/uioctl" bind "$nic"
    udevadm settle --timeout=30
    [ "$(perms "$nic" resource0)" = root:uio:660 ] || fail "the NIC's memory BAR resource0 is $(perms "$nic" resource0)"
    [ "$(perms "$nic" resource1)" = root:root:600 ] || fail "the NIC's I/O BAR resource1 is $(perms "$nic" resource1)"
    pass "a NIC on uio_pci_generic: memory BAR resource0 root:uio:660, I/O BAR resource1 stays root:root:600"
    "$top/.build/debug/uioctl" unbind "$nic"
    udevadm settle --timeout=30
    [ "$(perms "$nic" config):$(perms "$nic" resource0):$(perms "$nic" resource1)" = root:root:644:root:root:600:root:root:600 ] \
        || fail "after uioctl unbind the NIC's config, resource0, resource1 are $(perms "$nic" config), $(perms "$nic" resource0), $(perms "$nic" resource1)"
    pass "uioctl unbind: the NIC's config root:root:644 and resource0/1 root:root:600 again"
fi

echo "udev-check: unbinding edu from uio_pci_generic takes the access back:"
echo "1234 11e8" > /sys/bus/pci/drivers/uio_pci_generic/remove_id   # forget the harness's new_id
echo "$slot" > /sys/bus/pci/drivers/uio_pci_generic/unbind
[ ! -e /sys/class/uio/uio0 ] || fail "uio0 is still there after unbinding"
udevadm settle --timeout=30
[ "$(perms "$slot" config)" = root:root:644 ] || fail "after unbind, config is $(perms "$slot" config)"
[ "$(perms "$slot" resource0)" = root:root:600 ] || fail "after unbind, resource0 is $(perms "$slot" resource0)"
pass "after unbind: config root:root:644, resource0 root:root:600, as the kernel made them"

echo "udev-check: the optional rule that binds listed PCI ids as they appear:"
cp "$top"/udev/71-uio-pci-bind.rules /run/udev/rules.d/
udevadm control --reload
udevadm trigger --action=add "/sys/bus/pci/devices/$slot"
udevadm settle --timeout=30
[ "$(cat "/sys/bus/pci/devices/$slot/driver_override")" = uio_pci_generic ] || fail "driver_override was not set"
[ -e /sys/class/uio/uio0 ] || fail "the rule did not bind $slot to uio_pci_generic"
[ "$(stat -c %G:%a /dev/uio0)" = "uio:660" ] || fail "the rebound /dev/uio0 is $(stat -c %G:%a /dev/uio0)"
[ "$(perms "$slot" config)" = root:uio:664 ] || fail "the rebound device's config is $(perms "$slot" config)"
pass "$slot bound to uio_pci_generic by the rule; /dev/uio0 uio:660 and config root:uio:664 again"
echo "udev-check: all passed"
