#!/usr/bin/env bash
# Runs inside the guest: the edu example driver copies by DMA while another program opens and
# closes /dev/uio0 now and then — uio_pci_generic's release turns Bus Master off under the
# driver each time. Every copy must still come back whole: the driver notices the loss and makes
# the lost transfer again.
#   scripts/guest/run.sh --edu 1 --hugepages 4 -- scripts/guest/edu-dma-check.sh
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
log=$(mktemp)
"$top/.build/debug/edu-driver" --factorial 5 --interrupts 0 --dma-copies 12 > "$log" 2>&1 &
driver=$!
sleep 1.5  # device add and D0 entry: the DMA buffers exist and Bus Master is on
opened=0
while kill -0 "$driver" 2>/dev/null; do
    if exec 3<> /dev/uio0; then
        exec 3>&-
        opened=$((opened + 1))
    fi
    sleep 0.7
done
status=0
wait "$driver" || status=$?
cat "$log"
echo "edu-dma-check: /dev/uio0 opened and closed $opened times beside the driver"
[ "$status" -eq 0 ] || { echo "edu-dma-check: FAILED: the driver exited with $status"; exit 1; }
grep -q "every byte checked" "$log" || { echo "edu-dma-check: FAILED: the copies did not complete"; exit 1; }
grep -q "made again" "$log" || { echo "edu-dma-check: FAILED: no transfer was made again, so no loss was exercised"; exit 1; }
echo "edu-dma-check: ok: Bus Master lost under the driver, the lost transfers made again, every copy whole"
