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
# The first argument is the uio edu's device_add spec (default edu,id=edu0); its id is
# device_del's. With a second, "vfio", a missing vfio-pci device fails the check.
set -euo pipefail
edu_spec="${1:-edu,id=edu0}"
[ "${2:-}" != vfio ] || [ -n "${SWIFT_UIO_GUEST_VFIO:-}" ] || { echo "systemd-check: FAILED: no vfio-pci device (run.sh --vfio-device edu)"; exit 1; }
edu_id="${edu_spec##*id=}"
edu_id="${edu_id%%,*}"
top="$(cd "$(dirname "$0")/../.." && pwd)"
udev_root="${SWIFT_UIO_GUEST_UDEV:?run this through scripts/guest/run.sh, which unpacks udev}"
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
# The unit's journal since $since (captured first: grep -q on a pipe would SIGPIPE the writer).
unit_journal() { journalctl -u "$unit" --no-pager -o cat --since "@$since" 2>/dev/null || true; }
# Waits up to 60 s for the journal of the unit's current run to have a line matching $1.
wait_for_line() {
    local journal
    for _ in $(seq 120); do
        journal=$(unit_journal)
        grep -q "$1" <<< "$journal" && return 0
        sleep 0.5
    done
    fail "no line matching '$1' in the journal"
}
# The main process's pid, or a failure when the service has none.
main_pid() {
    local pid
    pid=$(systemctl show -P MainPID "$unit")
    [ "$pid" -gt 0 ] || fail "$unit has no main process"
    echo "$pid"
}
hotplug() {
    local name="request-$RANDOM"
    echo "$1" > "$SWIFT_UIO_GUEST_HOTPLUG/$name.request"
    for _ in $(seq 300); do
        if [ -e "$SWIFT_UIO_GUEST_HOTPLUG/$name.done" ]; then
            # QEMU's error, if it had one: it says why nothing will happen.
            grep -ai "error" "$SWIFT_UIO_GUEST_HOTPLUG/$name.done" | sed "s/^/systemd-check: QEMU answered '$1': /" || true
            return 0
        fi
        sleep 0.1
    done
    fail "QEMU did not answer '$1'"
}
# True once the unit is in state $1, within $2 tenths of a second.
reaches_state() {
    for _ in $(seq "$2"); do
        [ "$(systemctl show -P ActiveState "$unit")" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
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
# Active (READY=1 received) only after the interrupt's enable callback ran, by the clock both share.
wait_for_line "interrupt enabled"
json=$(journalctl -u "$unit" --no-pager -o json --since "@$since" || true)
enabled_line=$(grep -m1 '"MESSAGE":"edu-driver: interrupt enabled' <<< "$json" || true)
enabled_us=$(sed -n 's/.*"__MONOTONIC_TIMESTAMP":"\([0-9]*\)".*/\1/p' <<< "$enabled_line")
active_us=$(systemctl show -P ActiveEnterTimestampMonotonic "$unit")
[ -n "$enabled_us" ] && [ "$active_us" -gt "$enabled_us" ] || fail "active at ${active_us} µs, the interrupt enabled at ${enabled_us:-?} µs"
pass "binding $slot to uio_pci_generic started $unit; active $(( (active_us - enabled_us) / 1000 )) ms after its interrupt was enabled (Type=notify), ${ready_ms} ms after the bind"
wait_for_line "ready: the device is in D0"
line=$(unit_journal | grep -m1 "ready: the device is in D0")
[[ "$line" == *"device=/dev/uio0"* ]] || fail "the framework's line carries no device: $line"
pass "the journal has the framework's own line, with the device: $line"

# --- Drives interrupts as a dynamic user with no capability.
wait_for_line "raised 1000 test interrupts"
pid=$(main_pid)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status")
capabilities=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
[ "$uid" -ne 0 ] || fail "the driver runs as root"
[[ " $groups " == *" 990 "* ]] || fail "the driver is not in group uio: $groups"
[ "$capabilities" = 0000000000000000 ] || fail "the driver has capabilities: $capabilities"
pass "it drove edu's interrupts as uid $uid (groups$groups), no capability: $(unit_journal | grep -m1 "raised 1000")"
metrics=/run/edu-driver/uio0/metrics.prom
# Read as nobody: the figures are for other programs.
read_metrics() { setpriv --reuid=65534 --regid=65534 --clear-groups cat "$metrics" 2>&1 || true; }
for _ in $(seq 300); do grep -q '^uio_interrupt_wake_ups' <<< "$(read_metrics)" && break; sleep 0.1; done
figures=$(read_metrics)
grep -q '^uio_interrupt_wake_ups' <<< "$figures" || fail "no interrupt figures nobody can read in $metrics: $(head -5 <<< "$figures")"
pass "its metrics are readable by another user: $metrics has $(grep -c '^uio_' <<< "$figures") uio_ lines, $(grep -m1 '^uio_interrupt_wake_ups' <<< "$figures")"

# --- systemctl stop: the stop in WDF's order, no callback after it.
systemctl stop "$unit"
[ "$(systemctl show -P Result "$unit")" = success ] || fail "the stop's result is $(systemctl show -P Result "$unit")"
wait_for_line "edu-driver: stopped:"
journal=$(unit_journal)
grep -q "stopping: graceful shutdown" <<< "$journal" || fail "no graceful shutdown in the journal"
after=$(sed -n '/edu-driver: stopped:/,$p' <<< "$journal" | grep -v '^edu-driver:   \|^edu-driver: stopped:\|systemd\[1\]\|^Stopped \|^Stopping \|Deactivated\|Consumed' || true)
[ -z "$after" ] || fail "lines after the stop's report: $after"
grep -n "D0 exit\|stopping: graceful\|stopped:" <<< "$journal" | sed 's/^/  /'
pass "systemctl stop stopped the device (D0 exit before the report, nothing after it), result success"

# --- DeviceAllow= holds here: the cgroup's device filter refuses a node a unit does not list.
# (Units of our own: systemd-run needs D-Bus, which this guest does not run.)
for allowed in /dev/null /dev/uio0; do
    printf '[Service]\nType=oneshot\nDevicePolicy=closed\nDeviceAllow=%s r\nExecStart=/bin/sh -c "exec 3< /dev/uio0"\n' "$allowed" \
        > "/run/systemd/system/swift-uio-device-allow-${allowed##*/}.service"
done
systemctl daemon-reload
if systemctl start swift-uio-device-allow-null.service 2> /dev/null; then
    fail "a unit whose DeviceAllow= leaves out /dev/uio0 opened it"
fi
systemctl start swift-uio-device-allow-uio0.service || fail "a unit whose DeviceAllow= lists /dev/uio0 could not open it"
pass "DeviceAllow= is enforced: /dev/uio0 refused to a unit that does not list it, opened by one that does"

# --- Started again, then the device's removal stops it and its return starts it.
systemctl start "$unit"
wait_for_state active
since=$(date +%s)
hotplug "device_del $edu_id"
# device_del presses the root port's attention button; the guest's pciehp ignores a press while
# the slot is in a power transition, so a press that changed nothing in 25 s is made again (a
# second press within pciehp's 5 s countdown would cancel the first: 25 s is well past it).
if ! reaches_state inactive 250; then
    echo "systemd-check: device_del $edu_id changed nothing in 25 s: pressed again"
    hotplug "device_del $edu_id"
fi
wait_for_state inactive
[ "$(systemctl show -P Result "$unit")" = success ] || fail "the removal left the unit $(systemctl show -P Result "$unit")"
pass "device_del $edu_id stopped $unit: $(unit_journal | grep -m1 "surprise removal\|went away\|stopping:" || echo "stopped by systemd (BindsTo=)")"
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
    pid=$(main_pid)
    [ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" -ne 0 ] || fail "the VFIO driver runs as root"
    [ "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")" = 0000000000000000 ] || fail "the VFIO driver has capabilities"
    [ "$(awk '/^Max locked memory/ { print $4 }' "/proc/$pid/limits")" = 16777216 ] || fail "LimitMEMLOCK is not 16 MiB: $(grep locked "/proc/$pid/limits")"
    pass "it copied by DMA through the IOMMU as uid $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status"), no capability, memlock 16 MiB: $(unit_journal | grep -m1 "copied 4000" | cut -c1-100)…"
    # --force: the group is open; vfio-pci asks the driver to let go (its request interrupt), and
    # the unbind finishes once it has.
    since=$(date +%s)
    "$uioctl" unbind --force "$vfio_slot" > /dev/null
    wait_for_state inactive
    [ "$(systemctl show -P Result "$unit")" = success ] || fail "the unbind left $unit $(systemctl show -P Result "$unit")"
    pass "unbinding $vfio_slot from vfio-pci stopped $unit cleanly: $(unit_journal | grep -m1 "surprise removal\|stopping:" || echo "stopped by systemd (BindsTo=)")"
done
echo "systemd-check: all passed"
