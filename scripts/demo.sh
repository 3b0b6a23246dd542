#!/usr/bin/env bash
# The main job: build the edu example driver and run it in the bundled guest — Debian's kernel
# under QEMU, with QEMU's edu PCI device bound to uio_pci_generic — so it services real
# interrupts. Installs what it needs on Debian 12; arguments go to edu-driver (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh

ensure_packages pkg-config libudev-dev
echo "==> building examples/edu-driver" >&2
swift build --product edu-driver 2>&1 | tail -n 1 >&2
echo "==> booting the guest" >&2
exec scripts/guest/run.sh --edu 1 --hugepages 4 -- .build/debug/edu-driver "$@"
