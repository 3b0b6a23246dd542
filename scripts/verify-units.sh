#!/usr/bin/env bash
# Checks every systemd unit in deploy/ with `systemd-analyze verify`, as an instance of its
# template, against the edu example this tree builds (its ExecStart's binary must exist): any
# warning fails. The PCI slot's colons are left out of the instance name, which verify cannot
# read from a file name ("Couldn't process aliases").
#   scripts/verify-units.sh     (after swift build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
ensure_packages systemd
binary="$PWD/.build/debug/edu-driver"
[ -x "$binary" ] || { echo "verify-units: no $binary: run swift build first" >&2; exit 1; }
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
status=0
for template in deploy/*@.service; do
    name=$(basename "$template" .service)
    case "$name" in
        *vfio*) instance="${name}0000-00-10.0.service" ;;
        *) instance="${name}uio0.service" ;;
    esac
    sed "s|/usr/local/bin/edu-driver|$binary|" "$template" > "$staging/$instance"
    # verify reads the unit from the file; it prints nothing for a unit without a fault.
    if output=$(cd "$staging" && systemd-analyze verify --man=no "./$instance" 2>&1) && [ -z "$output" ]; then
        echo "verify-units: ok: $template (as $instance)"
    else
        echo "verify-units: FAILED: $template (as $instance):"
        echo "$output" | sed 's/^/  /'
        status=1
    fi
done
exit $status
