#!/usr/bin/env bash
# Runs inside a guest booted with systemd as init: deploys the edu example as a service the way
# deploy/README.md says, and checks the service's life — started by udev when edu is bound to
# uio_pci_generic, ready (Type=notify) after D0 entry, driving interrupts as a dynamic user with
# no capability, stopped cleanly by `systemctl stop` (the framework's log lines in the journal,
# no callback after the stop), stopped by the device's removal (device_del) and started again by
# its return (device_add). With an edu on vfio-pci ($SWIFT_UIO_GUEST_VFIO), the same for
# edu-driver-vfio@.service: started by the bind to vfio-pci, DMA through the IOMMU as a dynamic
# user, stopped by the unbind.
#   scripts/guest/run.sh --systemd --hotplug -- scripts/guest/systemd-check.sh
#   scripts/guest/run.sh --systemd --hotplug --edu 0 --vfio-device edu --bind 1234:11e8 \
#       --device pcie-root-port,id=rp1,chassis=1,addr=0x18 --device edu,id=edu0,bus=rp1 \
#       -- scripts/guest/systemd-check.sh edu,id=edu0,bus=rp1
# The argument is the uio edu's device_add spec (default edu,id=edu0); its id is device_del's.
set -euo pipefail
edu_spec="${1:-edu,id=edu0}"
edu_id="${edu_spec##*id=}"
edu_id="${edu_id%%,*}"
top="$(cd "$(dirname "$0")/../.." && pwd)"
udev_root="$SWIFT_UIO_GUEST_UDEV"
export PATH="$udev_root/bin:$PATH"
unit=edu-driver@uio0.service
fail() {
    echo "systemd-check: FAILED: $*"
    systemctl status "$unit" --no-pager -l 2>&1 | sed 's/^/  /' || true
    journalctl -u "$unit" --no-pager -o cat 2>&1 | tail -40 | sed 's/^/  | /' || true
    exit 1
}
pass() { echo "systemd-check: ok: $*"; }
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd (run.sh --systemd)"
echo "systemd-check: systemd booted; the guest's kernel started $(cut -d' ' -f1 /proc/uptime) s ago"
milliseconds() { echo $(( $(date +%s%N) / 1000000 )); }
# Waits up to 60 s for the unit's ActiveState to be $1.
wait_for_state() {
    local state
    for _ in $(seq 600); do
        state=$(systemctl show -P ActiveState "$unit")
        [ "$state" = "$1" ] && return 0
        [ "$state" != failed ] || fail "$unit failed"
        [ "$(systemctl show -P SubState "$unit")" != auto-restart ] || fail "$unit failed and waits to restart"
        sleep 0.1
    done
    fail "$unit is $(systemctl show -P ActiveState "$unit"), not $1, after 60 s"
}
# Waits up to 60 s for the journal of the unit's current run to have a line matching $1.
wait_for_line() {
    for _ in $(seq 120); do
        journalctl -u "$unit" --no-pager -o cat --since "@$since" 2>/dev/null | grep -q "$1" && return 0
        sleep 0.5
    done
    fail "no line matching '$1' in the journal"
}
hotplug() {
    local name="request-$RANDOM"
    echo "$1" > "$SWIFT_UIO_GUEST_HOTPLUG/$name.request"
    for _ in $(seq 300); do [ -e "$SWIFT_UIO_GUEST_HOTPLUG/$name.done" ] && return 0; sleep 0.1; done
    fail "QEMU did not answer '$1'"
}

# --- Deploy as deploy/README.md says: the group, the binary, the rules, the units.
cp /etc/group /run/group
echo "uio:x:990:" >> /run/group
echo "vfio:x:991:" >> /run/group
mount --bind /run/group /etc/group
mount -t tmpfs tmpfs /usr/local/bin
cp "$top/.build/debug/edu-driver" /usr/local/bin/edu-driver
mkdir -p /run/udev/rules.d
cp "$top/udev/70-uio.rules" "$top/udev/73-vfio.rules" "$top/deploy/75-edu-driver.rules" /run/udev/rules.d/
cp "$top"/deploy/*.service /run/systemd/system/
systemctl daemon-reload
# udevd runs in a mount namespace of its own (PrivateMounts=): restarted, it sees the new group.
systemctl restart systemd-udevd

slot=$(basename "$(readlink -f /sys/class/uio/uio0/device)")
uioctl="$top/.build/debug/uioctl"
"$uioctl" unbind "$slot" > /dev/null
[ ! -e /dev/uio0 ] || fail "/dev/uio0 is still there after the unbind"

# --- Started when edu is bound, ready after D0 entry.
since=$(date +%s)
started=$(milliseconds)
"$uioctl" bind "$slot" > /dev/null
wait_for_state active
ready_ms=$(( $(milliseconds) - started ))
journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -q "D0 entry" || fail "active before D0 entry"
pass "binding $slot to uio_pci_generic started $unit; ready (Type=notify) after D0 entry, ${ready_ms} ms after the bind"
line=$(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep "ready: the device is in D0") || fail "no 'ready' line of the framework in the journal"
[[ "$line" == *"device=/dev/uio0"* ]] || fail "the framework's line carries no device: $line"
pass "the journal has the framework's own line, with the device: $line"

# --- Drives interrupts as a dynamic user with no capability.
wait_for_line "raised 1000 test interrupts"
pid=$(systemctl show -P MainPID "$unit")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status")
capabilities=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
[ "$uid" -ne 0 ] || fail "the driver runs as root"
[[ " $groups " == *" 990 "* ]] || fail "the driver is not in group uio: $groups"
[ "$capabilities" = 0000000000000000 ] || fail "the driver has capabilities: $capabilities"
pass "it drove edu's interrupts as uid $uid (groups$groups), no capability: $(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -m1 "raised 1000")"
metrics=/run/edu-driver/uio0/metrics.prom
for _ in $(seq 300); do grep -q '^uio_interrupt_wake_ups' "$metrics" 2>/dev/null && break; sleep 0.1; done
grep -q '^uio_interrupt_wake_ups' "$metrics" || fail "no interrupt figures in $metrics: $(cat "$metrics" 2>&1 | head -5)"
pass "its metrics are readable from outside the process: $metrics has $(grep -c '^uio_' "$metrics") uio_ lines, $(grep -m1 '^uio_interrupt_wake_ups' "$metrics")"

# --- systemctl stop: the stop in WDF's order, no callback after it.
systemctl stop "$unit"
[ "$(systemctl show -P Result "$unit")" = success ] || fail "the stop's result is $(systemctl show -P Result "$unit")"
journal=$(journalctl -u "$unit" --no-pager -o cat --since "@$since")
echo "$journal" | grep -q "stopping: graceful shutdown" || fail "no graceful shutdown in the journal"
after=$(echo "$journal" | sed -n '/edu-driver: stopped:/,$p' | grep -v '^edu-driver:   \|^edu-driver: stopped:\|systemd\[1\]\|^Stopped \|^Stopping \|Deactivated\|Consumed' || true)
[ -z "$after" ] || fail "lines after the stop's report: $after"
echo "$journal" | grep -n "D0 exit\|stopping: graceful\|stopped:" | sed 's/^/  /'
pass "systemctl stop stopped the device (D0 exit before the report, nothing after it), result success"

# --- Started again, then the device's removal stops it and its return starts it.
systemctl start "$unit"
wait_for_state active
since=$(date +%s)
hotplug "device_del $edu_id"
wait_for_state inactive
[ "$(systemctl show -P Result "$unit")" = success ] || fail "the removal left the unit $(systemctl show -P Result "$unit")"
pass "device_del $edu_id stopped $unit: $(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -m1 "surprise removal\|went away\|stopping:" || echo "stopped by systemd (BindsTo=)")"
since=$(date +%s)
started=$(milliseconds)
hotplug "device_add $edu_spec"
wait_for_state active
pass "device_add edu started $unit again, ready $(( $(milliseconds) - started )) ms after the device_add"
systemctl stop "$unit"

# --- The VFIO unit: started by the bind to vfio-pci, DMA through the IOMMU, stopped by the unbind.
for vfio_slot in ${SWIFT_UIO_GUEST_VFIO:-}; do
    unit="edu-driver-vfio@$vfio_slot.service"
    "$uioctl" unbind "$vfio_slot" > /dev/null
    since=$(date +%s)
    started=$(milliseconds)
    "$uioctl" bind --driver vfio-pci "$vfio_slot" > /dev/null
    wait_for_state active
    pass "binding $vfio_slot to vfio-pci started $unit, ready $(( $(milliseconds) - started )) ms after the bind"
    wait_for_line "copied 4000 bytes"
    pid=$(systemctl show -P MainPID "$unit")
    [ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" -ne 0 ] || fail "the VFIO driver runs as root"
    [ "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")" = 0000000000000000 ] || fail "the VFIO driver has capabilities"
    [ "$(awk '/^Max locked memory/ { print $4 }' "/proc/$pid/limits")" = 16777216 ] || fail "LimitMEMLOCK is not 16 MiB: $(grep locked "/proc/$pid/limits")"
    pass "it copied by DMA through the IOMMU as uid $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status"), no capability, memlock 16 MiB: $(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -m1 "copied 4000" | cut -c1-100)…"
    # --force: the group is open; vfio-pci asks the driver to let go (its request interrupt), and
    # the unbind finishes once it has.
    since=$(date +%s)
    "$uioctl" unbind --force "$vfio_slot" > /dev/null
    wait_for_state inactive
    [ "$(systemctl show -P Result "$unit")" = success ] || fail "the unbind left $unit $(systemctl show -P Result "$unit")"
    pass "unbinding $vfio_slot from vfio-pci stopped $unit cleanly: $(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -m1 "surprise removal\|stopping:" || echo "stopped by systemd (BindsTo=)")"
done
echo "systemd-check: all passed"
