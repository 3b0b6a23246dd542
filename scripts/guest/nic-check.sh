#!/usr/bin/env bash
# Runs inside the guest with three e1000 NICs on two hubs (run.sh --nic-hubs e1000): the
# e1000-nic example sends test packets out of A while it forwards what B receives out of C,
# first in interrupt mode, then polling, then while C is unplugged under it.
#   scripts/guest/run.sh --edu 0 --bind 8086:100e --hugepages 24 --nic-hubs e1000 --hotplug -- \
#       scripts/guest/nic-check.sh [ALLOCATION_COUNTER.so]
# Every run must end with the driver's counts equal to the devices' and no corrupted payload
# (the example itself fails otherwise); with the allocation counter, the forwarding threads must
# allocate nothing over at least 10^6 packets.
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
nic="$top/.build/debug/e1000-nic"
counter="${1:-}"
# shellcheck disable=SC2086
set -- $SWIFT_UIO_GUEST_NICS
a=$1 b=$2 c=$3
work=$(mktemp -d)
fail() { echo "nic-check: FAILED: $*"; echo "nic-check: the kernel's last messages:"; dmesg | tail -n 15; exit 1; }

# A QEMU monitor command through run.sh --hotplug; QEMU's answer is printed if it is an error.
hotplug() {
    local name="request-$RANDOM"
    echo "$1" > "$SWIFT_UIO_GUEST_HOTPLUG/$name.request"
    for _ in $(seq 300); do
        if [ -e "$SWIFT_UIO_GUEST_HOTPLUG/$name.done" ]; then
            grep -ai "error" "$SWIFT_UIO_GUEST_HOTPLUG/$name.done" | sed "s/^/nic-check: QEMU answered '$1': /" || true
            return 0
        fi
        sleep 0.1
    done
    fail "QEMU did not answer '$1'"
}

# pktgen on A (vCPU 0) until stopped by SIGTERM; what it printed is checked when it is stopped.
start_pktgen() {
    taskset -c 0 "$nic" pktgen "$a" > "$work/pktgen.log" 2>&1 &
    pktgen=$!
    sleep 1.5  # device add and D0 entry
}
stop_pktgen() {
    kill -TERM "$pktgen"
    local status=0
    wait "$pktgen" || status=$?
    sed 's/^/    pktgen: /' "$work/pktgen.log" | grep -v "cpu \|RX 0.0000 Mpps" || true
    [ "$status" -eq 0 ] || fail "pktgen exited with $status after SIGTERM"
    grep -q "sent [0-9]* test packets.*agree" "$work/pktgen.log" || fail "pktgen's counts did not agree with the device's"
}

forward() {  # MODE
    local mode=$1 log="$work/fwd-$1.log" status=0
    echo "nic-check: fwd $b → $c, $mode mode, until 2,000,000 packets"
    start_pktgen
    env ${counter:+LD_PRELOAD=$counter} taskset -c 1 "$nic" fwd "$b" "$c" --mode "$mode" --packets 2000000 --seconds 300 \
        > "$log" 2>&1 || status=$?
    stop_pktgen
    cat "$log"
    [ "$status" -eq 0 ] || fail "fwd ($mode) exited with $status"
    grep -q "received: the device counted .* agree" "$log" || fail "$mode: the receive counts"
    grep -q "transmitted: the device counted .* agree" "$log" || fail "$mode: the transmit counts"
    grep -q "payloads: [0-9]* checked, 0 corrupted" "$log" || fail "$mode: corrupted payloads"
    if [ "$mode" = interrupt ]; then
        grep -q "interrupts: the object counted [0-9]*, the kernel [0-9]*: agree" "$log" || fail "interrupt counts"
    fi
    if [ -n "$counter" ]; then
        local line
        line=$(grep "allocations over the last" "$log") || fail "$mode: no allocation count"
        local packets
        packets=$(sed 's/.*over the last \([0-9]*\) packets.*/\1/' <<< "$line")
        [ "$packets" -ge 1000000 ] || fail "$mode: allocations counted over $packets packets, fewer than 10^6"
        sed 's/.*warm up): //' <<< "$line" | tr ',' '\n' | awk '$2 != 0 { bad = 1 } END { exit bad }' \
            || fail "$mode: the forwarding threads allocated: $line"
    fi
    echo "nic-check: ok: $mode mode"
}

forward interrupt
forward poll

# C unplugged while B forwards into it: the example ends, cleanly, on C's removal.
echo "nic-check: fwd $b → $c, interrupt mode, C unplugged once packets flow"
start_pktgen
log="$work/fwd-unplug.log"
taskset -c 1 "$nic" fwd "$b" "$c" --seconds 120 > "$log" 2>&1 &
fwd=$!
# Unplugged once packets flow through C: after both devices started and a second's rates
# show B receiving (a bound for a hung start, not a timing).
for _ in $(seq 600); do
    grep -Eq "^e1000-nic: \[$b\] RX ([1-9][0-9]*\.|0\.[0-9]*[1-9])" "$log" && break
    kill -0 "$fwd" 2>/dev/null || break
    sleep 0.1
done
grep -Eq "^e1000-nic: \[$b\] RX ([1-9][0-9]*\.|0\.[0-9]*[1-9])" "$log" || { cat "$log"; fail "fwd did not start forwarding within 60 s"; }
hotplug "device_del hubnic2"
# Once, under this load, the guest's ACPI hot-plug removed nothing for 30 s after QEMU had taken
# the request (C went on transmitting, the kernel said nothing): a request that removed nothing
# in 15 s is made again, which raises QEMU's hot-plug event again.
for _ in $(seq 150); do [ -e "/sys/bus/pci/devices/$c" ] && kill -0 "$fwd" 2>/dev/null || break; sleep 0.1; done
if [ -e "/sys/bus/pci/devices/$c" ] && kill -0 "$fwd" 2>/dev/null; then
    echo "nic-check: device_del hubnic2 removed nothing in 15 s: requested again"
    hotplug "device_del hubnic2"
fi
status=0
for _ in $(seq 300); do kill -0 "$fwd" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fwd" 2>/dev/null && { kill -KILL "$fwd"; cat "$log"; fail "fwd still ran 30 s after C was unplugged"; }
wait "$fwd" || status=$?
stop_pktgen
cat "$log"
[ "$status" -eq 0 ] || fail "fwd exited with $status after C was unplugged"
grep -q "$c: surprise removal" "$log" || fail "fwd did not see C's removal"
grep -q "a port was removed" "$log" || fail "fwd did not report the removal"
for _ in $(seq 100); do [ -e "/sys/bus/pci/devices/$c" ] || break; sleep 0.1; done
[ ! -e "/sys/bus/pci/devices/$c" ] || fail "C is still in the guest 10 s after fwd ended"
echo "nic-check: ok: unplugged under the forwarder"
echo "nic-check: ok"
