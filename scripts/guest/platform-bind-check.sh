#!/usr/bin/env bash
# Runs inside the aarch64 guest as root: binds the PL031 node to uio_pdrv_genirq with `uioctl
# bind` (driver_override) after reloading the module without of_id, so nothing but the override
# can match it; drives it; unbinds it.
#   scripts/guest/run.sh --arch aarch64 -- scripts/guest/platform-bind-check.sh
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
node=9010000.pl031
fail() { echo "platform-bind-check: FAILED: $*"; exit 1; }
pass() { echo "platform-bind-check: ok: $*"; }

"$SWIFT_UIO_GUEST_BUSYBOX" rmmod uio_pdrv_genirq
"$SWIFT_UIO_GUEST_BUSYBOX" insmod "$SWIFT_UIO_GUEST_MODULE"
[ ! -e "/sys/bus/platform/devices/$node/driver" ] || fail "$node is bound without of_id"
[ -z "$(ls /sys/class/uio)" ] || fail "a UIO device without of_id: $(ls /sys/class/uio)"
pass "uio_pdrv_genirq loaded without of_id: $node stays unbound"

"$top/.build/debug/uioctl" bind "$node"
[ "$(basename "$(readlink -f "/sys/bus/platform/devices/$node/driver")")" = uio_pdrv_genirq ] || fail "uioctl bind did not bind $node"
[ "$(cat /sys/class/uio/uio0/name)" = pl031-uio ] || fail "the UIO device is named $(cat /sys/class/uio/uio0/name)"
pass "uioctl bind $node: uio_pdrv_genirq took it through driver_override, named by linux,uio-name"

"$top/.build/debug/pl031-driver" --alarms 2 || fail "the driver failed on the overridden device"
pass "the PL031 driver ran on it"

"$top/.build/debug/uioctl" unbind "$node"
[ ! -e "/sys/bus/platform/devices/$node/driver" ] || fail "$node is still bound"
[ -z "$(cat "/sys/bus/platform/devices/$node/driver_override")" ] || [ "$(cat "/sys/bus/platform/devices/$node/driver_override")" = "(null)" ] \
    || fail "driver_override is still $(cat "/sys/bus/platform/devices/$node/driver_override")"
pass "uioctl unbind $node: unbound, override cleared"

if output=$("$top/.build/debug/uioctl" bind ../etc 2>&1); then fail "uioctl bind ../etc succeeded"; fi
echo "$output" | grep -q "is not a platform device's name" || fail "uioctl bind ../etc said: $output"
pass "uioctl bind refuses a name that is a path"
echo "platform-bind-check: all passed"
