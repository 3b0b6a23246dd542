# Sourced by run.sh: the aarch64 guest. One of Debian's arm64 kernels (kernels.sh) on QEMU's virt board, whose PL031
# RTC the device tree re-declares "generic-uio", bound to uio_pdrv_genirq (built here from
# Debian's kernel source: Debian does not ship it). Host-built x86_64 programs run through
# qemu-user, registered with binfmt_misc.
#
# guest_aarch64 CACHE CPUS [IOMMU [KERNEL]]
#   CACHE   the folder for downloads and builds (all under CACHE/arm64)
#   CPUS    the number of virtual CPUs
#   IOMMU   ignored: the virt board here has none
#   KERNEL  6.1 (default), 6.12 or 6.12-rt, as kernels.sh names them
# Sets only run.sh's guest_* outputs (run.sh declares them):
#   guest_kernel_root, guest_kernel_version  the unpacked arm64 kernel package, depmod-ed
#   guest_busybox            the arm64 static busybox, for the initramfs
#   guest_initramfs_modules  (array) modules the initramfs loads to mount the host's root
#   guest_qemu               (array) QEMU, the virt board with its patched device tree, -kernel
#   guest_console            the serial console's device name
#   guest_uio_platform       the uio_pdrv_genirq module built here, to load with of_id=generic-uio
#   guest_binfmt             qemu-user for x86_64, for the guest to register with binfmt_misc
#   guest_env                (associative) SWIFT_UIO_GUEST_MODULE (that module) and
#                            SWIFT_UIO_GUEST_BUSYBOX (the arm64 busybox), for checks that reload
#                            the module: qemu-user cannot emulate delete_module for the host's rmmod
guest_aarch64() {
    local cache="$1" cpus="$2" kernel="${4:-6.1}"
    ensure_packages qemu-system-arm device-tree-compiler gcc gcc-aarch64-linux-gnu make busybox-static cpio kmod xz-utils
    local arm64="$cache/arm64"
    mkdir -p "$arm64"

    local state version
    state=$(kernel_apt_state "$cache" "$kernel")
    version=$(kernel_version "$state" "$kernel" arm64 "$arm64/@VERSION@/extra/uio_pdrv_genirq.ko")
    local kernel_root="$arm64/$version"
    local module="$kernel_root/extra/uio_pdrv_genirq.ko"
    if [ ! -f "$module" ]; then
        local base
        base=$(kernel_apt_state "$cache" 6.1)
        aarch64_fetch_packages "$arm64" "$state" "$base" "$version"
        aarch64_build_module "$arm64" "$version"
    fi
    local machine=(-M virt -cpu cortex-a57 -accel tcg,thread=multi -smp "$cpus" -m 2G)
    local dtb
    dtb=$(aarch64_device_tree "$arm64" "${machine[@]}")

    guest_kernel_root="$kernel_root"
    guest_kernel_version="$version"
    guest_busybox="$kernel_root/bin/busybox"
    guest_initramfs_modules=(virtio_pci 9pnet_virtio 9p binfmt_misc)
    guest_qemu=(qemu-system-aarch64 "${machine[@]}" -dtb "$dtb" -kernel "$kernel_root/boot/vmlinuz-$version")
    guest_console=ttyAMA0
    guest_uio_platform="$module"
    guest_binfmt="$kernel_root/usr/bin/qemu-x86_64-static"
    guest_env=([SWIFT_UIO_GUEST_MODULE]="$module" [SWIFT_UIO_GUEST_BUSYBOX]="$kernel_root/bin/busybox")
}

# Debian's kernel source package for a kernel version: 6.1.0-56-arm64 → linux-source-6.1,
# 6.12.95+deb12-arm64 → linux-source-6.12.
aarch64_source_package() {
    local release="${1%%-*}"
    echo "linux-source-${release%.*}"
}

# Step 1 — downloads into ARM64/debs, with the kernel's apt STATE (kernels.sh), the arm64 kernel,
# its headers, its kbuild tools (this machine's architecture) and Debian's kernel source
# (architecture-independent), and with Debian 12's own BASE state the arm64 busybox and qemu-user
# (the same for every kernel; backports has no busybox); unpacks all but the source into
# ARM64/VERSION.
aarch64_fetch_packages() {
    local arm64="$1" state="$2" base="$3" version="$4"
    local kernel_root="$arm64/$version" debs="$arm64/debs"
    local kernel_source
    kernel_source=$(aarch64_source_package "$version")
    echo "==> fetching the arm64 kernel $version, its headers and Debian's kernel source" >&2
    rm -rf "$kernel_root"
    mkdir -p "$debs" "$kernel_root/extra"
    local headers_depends headers_common kbuild
    headers_depends=$(kernel_apt "$state" apt-cache show "linux-headers-$version:arm64" | sed -n 's/^Depends: //p' | head -n 1)
    # -common, or -common-rt for the PREEMPT_RT build
    headers_common=$(echo "$headers_depends" | grep -o 'linux-headers-[^ ,]*-common[^ ,]*' | head -n 1)
    kbuild=$(echo "$headers_depends" | grep -o 'linux-kbuild-[^ ,]*' | head -n 1)
    [ -n "$headers_common" ] && [ -n "$kbuild" ] || { echo "==> linux-headers-$version names no -common or kbuild package" >&2; return 1; }
    # Fresh lists for the base too: its cached ones may name a busybox or qemu-user the archive
    # has since replaced (only the kernel's lists were refreshed for this build).
    kernel_apt "$base" apt-get -qq update || { echo "==> apt-get update in $base failed" >&2; return 1; }
    (cd "$debs" && rm -f ./*.deb \
        && kernel_apt "$state" apt-get -qq download "linux-image-$version:arm64" "linux-headers-$version:arm64" \
            "$headers_common:all" "$kbuild:$(dpkg --print-architecture)" "$kernel_source:all" \
        && kernel_apt "$base" apt-get -qq download busybox-static:arm64 qemu-user-static:arm64) \
        || { echo "==> downloading the arm64 packages failed" >&2; return 1; }
    local deb
    for deb in "$debs"/*.deb; do
        case "$deb" in *linux-source*) continue ;; esac
        # Unpacked, never installed: their maintainer scripts would act on this machine.
        dpkg-deb -x "$deb" "$kernel_root"
    done
    depmod -b "$kernel_root" "$version"
}

# Step 2 — builds uio_pdrv_genirq from the kernel source against the arm64 headers with the cross
# compiler, into ARM64/VERSION/extra, then drops what the guest does not use.
aarch64_build_module() {
    local arm64="$1" version="$2"
    local kernel_root="$arm64/$version"
    local module="$kernel_root/extra/uio_pdrv_genirq.ko"
    echo "==> building uio_pdrv_genirq for arm64" >&2
    local build kernel_source
    build=$(mktemp -d)
    kernel_source=$(aarch64_source_package "$version")
    dpkg-deb --fsys-tarfile "$arm64/debs/${kernel_source}"_*.deb | tar -xO "./usr/src/$kernel_source.tar.xz" \
        | tar -xJO "$kernel_source/drivers/uio/uio_pdrv_genirq.c" > "$build/uio_pdrv_genirq.c"
    echo 'obj-m := uio_pdrv_genirq.o' > "$build/Kbuild"
    local headers="$kernel_root/usr/src/linux-headers-$version"
    # The headers' Makefile includes the -common tree by its installed, absolute path.
    sed -i "s|^include /usr/src/|include $kernel_root/usr/src/|" "$headers/Makefile"
    # No BTF for the module: the headers hold no vmlinux to base it on (6.1 skips it by itself; 6.12
    # calls pahole, which this machine need not have).
    make -s -C "$headers" M="$build" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CONFIG_DEBUG_INFO_BTF_MODULES= modules 2>&1 \
        | grep -v 'Skipping BTF generation' >&2 || true
    [ -f "$build/uio_pdrv_genirq.ko" ] || { echo "==> building uio_pdrv_genirq failed" >&2; return 1; }
    cp "$build/uio_pdrv_genirq.ko" "$module.tmp"
    mv "$module.tmp" "$module"
    # Keep what the guest uses: the kernel, its modules, busybox, qemu-user for x86_64.
    find "$kernel_root/usr/bin" -name 'qemu-*' ! -name qemu-x86_64-static -delete
    rm -rf "$build" "$arm64/debs" "$kernel_root/usr/src" "$kernel_root/usr/lib" "$kernel_root/usr/share"
}

# Step 3 — prints the path of the board's device tree (for QEMU's options after ARM64), its PL031
# re-declared a generic-uio platform device; made once per board and patch. The node gets a
# second register region, the PL061 GPIO block's identification registers only (0x20 bytes at
# 0xfe0 into its page, read-only use), so the UIO device has two named maps, as a node with
# several `reg` entries does, and the second is smaller than a page and starts inside one.
aarch64_device_tree() {
    local arm64="$1"; shift
    local patch='/pl031@/ { in_rtc = 1 }
in_rtc && /reg =/ { print "\t\treg = <0x00 0x9010000 0x00 0x1000 0x00 0x9030fe0 0x00 0x20>;"; print "\t\treg-names = \"rtc\", \"gpio\";"; next }
in_rtc && /compatible =/ { print "\t\tcompatible = \"generic-uio\";"; print "\t\tlinux,uio-name = \"pl031-uio\";"; in_rtc = 0; next }
{ print }'
    local dtb
    dtb="$arm64/virt-$(echo "$* $patch" | sha256sum | cut -c1-12).dtb"
    if [ ! -f "$dtb" ]; then
        qemu-system-aarch64 "$@" -machine dumpdtb="$dtb.board" -display none >/dev/null 2>&1
        dtc -q -I dtb -O dts "$dtb.board" | awk "$patch" | dtc -q -I dts -O dtb -o "$dtb.tmp"
        grep -q generic-uio "$dtb.tmp" || { echo "==> patching the device tree failed" >&2; return 1; }
        mv "$dtb.tmp" "$dtb"
        rm -f "$dtb.board"
    fi
    echo "$dtb"
}
