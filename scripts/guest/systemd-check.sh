#!/usr/bin/env bash
# Runs inside a guest booted with systemd as init: deploys the edu example as a service the way
# deploy/README.md says, and checks the service's life — started by udev when edu is bound to
# uio_pci_generic, ready (Type=notify) after D0 entry, driving interrupts as a dynamic user with
# no capability, stopped cleanly by `systemctl stop` (the framework's log lines in the journal,
# no callback after the stop), stopped by the device's removal (device_del) and started again by
# its return (device_add).
#   scripts/guest/run.sh --systemd --hotplug -- scripts/guest/systemd-check.sh
set -euo pipefail
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
    for _ in $(seq 600); do
        [ "$(systemctl show -P ActiveState "$unit")" = "$1" ] && return 0
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
mount --bind /run/group /etc/group
mount -t tmpfs tmpfs /usr/local/bin
cp "$top/.build/debug/edu-driver" /usr/local/bin/edu-driver
mkdir -p /run/udev/rules.d
cp "$top/udev/70-uio.rules" "$top/deploy/75-edu-driver.rules" /run/udev/rules.d/
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
hotplug "device_del edu0"
wait_for_state inactive
[ "$(systemctl show -P Result "$unit")" = success ] || fail "the removal left the unit $(systemctl show -P Result "$unit")"
pass "device_del edu0 stopped $unit: $(journalctl -u "$unit" --no-pager -o cat --since "@$since" | grep -m1 "surprise removal\|went away\|stopping:" || echo "stopped by systemd (BindsTo=)")"
since=$(date +%s)
started=$(milliseconds)
hotplug "device_add edu,id=edu0"
wait_for_state active
pass "device_add edu started $unit again, ready $(( $(milliseconds) - started )) ms after the device_add"
systemctl stop "$unit"
echo "systemd-check: all passed"
