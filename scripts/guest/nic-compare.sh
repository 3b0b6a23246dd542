#!/usr/bin/env bash
# Runs inside the guest with three e1000 NICs on two hubs: the forwarding rate of ixy's C
# driver (ixy-fwd, built from its public repository with the fixes its e1000 driver needs)
# against e1000-nic's, in polling and in interrupt mode, in one boot, interleaved, ROUNDS times.
# ixy is never part of this project: give the folder of its static build.
#   scripts/guest/run.sh --edu 0 --hugepages 64 --nic-hubs e1000 --timeout 1800 -- \
#       scripts/guest/nic-compare.sh IXY_BUILD_FOLDER [ROUNDS] [E1000_NIC]
#
# The protocol, the same for every forwarder:
# - the same packet source for all, on vCPU 0 for the whole phase: saturated, ixy-pktgen;
#   paced, e1000-nic pktgen --rate 50000 (ixy-pktgen cannot be paced);
# - 3 s after the source starts, each forwarder (B → C) in turn runs on vCPU 1 for 18 s;
# - the rate is the mean of B's receive rate over the 1 s samples 7 to 16, as the forwarder
#   itself prints them (both print each second); the CPU is the forwarder's user + system time
#   from /proc over the same 10 s.
# e1000-nic forwards without checking payloads (--no-check), touching one byte of each packet
# as ixy-fwd does. A is unbound (ixy takes devices off their drivers itself); B and C are bound
# to uio_pci_generic before each e1000-nic run.
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
ixy="${1:?usage: nic-compare.sh IXY_BUILD_FOLDER [ROUNDS] [E1000_NIC]}"
rounds="${2:-3}"
nic="${3:-$top/.build/release/e1000-nic}"
uioctl="$top/.build/debug/uioctl"
# shellcheck disable=SC2086
set -- $SWIFT_UIO_GUEST_NICS
a=$1 b=$2 c=$3
work=$(mktemp -d)

# ixy puts its DMA memory in hugetlbfs at /mnt/huge, and the guest's /mnt is the host's, read-only.
mount -t tmpfs tmpfs /mnt
mkdir -p /mnt/huge
mount -t hugetlbfs nodev /mnt/huge
# Terminals for script(1), below.
mkdir -p /dev/pts
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
modprobe -d "$SWIFT_UIO_GUEST_KERNEL_ROOT" -S "$SWIFT_UIO_GUEST_KERNEL_VERSION" uio_pci_generic

# The process's user + system time in clock ticks; fails, showing its log, if it has ended.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null && return
    echo "nic-compare: the forwarder ended early:" >&2
    cat "$2" >&2
    return 1
}

# run NAME COMMAND...: appends "PHASE NAME mpps cpu%" to the results.
run() {
    local name=$1; shift
    echo "nic-compare: $phase, $name, round $round"
    local log="$work/$phase.$name.$round.log"
    # On a terminal, so ixy's stdio flushes each line: a static binary ignores stdbuf, and a
    # signal would lose what a full buffer held.
    script -qfec "$(printf '%q ' taskset -c 1 "$@")" "$log" > /dev/null &
    local wrapper=$! pid ticks0 ticks1
    sleep 8
    # The forwarder itself, not script(1) or its shell: the command line starts with the program.
    pid=$(pgrep -n -f "^[^ ]*(ixy-fwd|e1000-nic fwd) $b") || { echo "nic-compare: $name is not running:"; cat "$log"; return 1; }
    ticks0=$(cpu_ticks "$pid" "$log")
    sleep 10
    ticks1=$(cpu_ticks "$pid" "$log")
    kill -TERM "$pid"
    wait "$wrapper" || true
    # B's receive rate, one line a second in either driver's format; samples 7 to 16.
    local mpps
    mpps=$({ grep -E "^(e1000-nic: )?\[$b\] RX" "$log" || true; } | sed -E 's/.*\] RX:? ([0-9]+ Mbit\/s )?([0-9.]+) Mpps.*/\2/' \
        | sed -n '7,16p' | awk '{ sum += $1; n++ } END { if (n) printf "%.4f", sum / n; else print "none" }')
    if [ "$mpps" = none ]; then echo "nic-compare: no rate from $name:"; cat "$log"; return 1; fi
    local cpu=$(( (ticks1 - ticks0) * 100 / $(getconf CLK_TCK) / 10 ))
    echo "$phase $name $mpps $cpu" | tee -a "$work/results"
}

# One phase: ROUNDS rounds of the three forwarders, A sending meanwhile.
forwarders() {
    for round in $(seq "$rounds"); do
        run ixy-fwd "$ixy/ixy-fwd" "$b" "$c"  # takes B and C off uio_pci_generic itself
        "$uioctl" bind "$b" > /dev/null
        "$uioctl" bind "$c" > /dev/null
        run e1000-nic-poll "$nic" fwd "$b" "$c" --mode poll --no-check
        run e1000-nic-interrupt "$nic" fwd "$b" "$c" --mode interrupt --no-check
        "$uioctl" unbind "$b" > /dev/null
        "$uioctl" unbind "$c" > /dev/null
    done
}

phase=saturated
if [ -z "${NIC_COMPARE_PACED_ONLY:-}" ]; then
echo "nic-compare: ixy-pktgen on $a"
taskset -c 0 "$ixy/ixy-pktgen" "$a" > "$work/pktgen.log" 2>&1 &
pktgen=$!
sleep 3
forwarders
kill -TERM "$pktgen"; wait "$pktgen" || true
fi

phase=paced
echo "nic-compare: e1000-nic pktgen --rate 50000 on $a"
"$uioctl" bind "$a" > /dev/null
taskset -c 0 "$nic" pktgen "$a" --rate 50000 > "$work/pktgen-paced.log" 2>&1 &
pktgen=$!
sleep 3
forwarders
kill -TERM "$pktgen"; wait "$pktgen" || true

echo "nic-compare: B's receive rate (Mpps) and the forwarder's CPU (% of one vCPU), $rounds rounds each, interleaved"
awk '{ key = $1 " " $2; rate[key] = rate[key] " " $3; cpu[key] = cpu[key] " " $4; sum[key] += $3; n[key]++ }
     END { for (k in rate) printf "%-30s rates%s  mean %.4f  cpu%s\n", k, rate[k], sum[k] / n[k], cpu[k] }' "$work/results" | sort
awk '{ key = $1 " " $2; sum[key] += $3; n[key]++; cpu[key] += $4 } END {
    for (p in sum) { split(p, parts, " "); phases[parts[1]] = 1 }
    for (p in phases) {
        ixy = sum[p " ixy-fwd"] / n[p " ixy-fwd"]
        printf "%s: rate against ixy-fwd: poll %.2f, interrupt %.2f; mean CPU: ixy-fwd %d%%, poll %d%%, interrupt %d%%\n", p,
            sum[p " e1000-nic-poll"] / n[p " e1000-nic-poll"] / ixy, sum[p " e1000-nic-interrupt"] / n[p " e1000-nic-interrupt"] / ixy,
            cpu[p " ixy-fwd"] / n[p " ixy-fwd"], cpu[p " e1000-nic-poll"] / n[p " e1000-nic-poll"], cpu[p " e1000-nic-interrupt"] / n[p " e1000-nic-interrupt"]
    }
}' "$work/results"
