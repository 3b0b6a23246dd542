# Sourced by run.sh: the aarch64 guest. Debian's arm64 kernel on QEMU's virt board, whose PL031
# RTC the device tree re-declares "generic-uio", bound to uio_pdrv_genirq (built here from
# Debian's kernel source: Debian does not ship it). Host-built x86_64 programs run through
# qemu-user, registered with binfmt_misc.
#
# guest_aarch64 CACHE CPUS
#   CACHE  the folder for downloads and builds (all under CACHE/arm64)
#   CPUS   the number of virtual CPUs
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
    local cache="$1" cpus="$2"
    ensure_packages qemu-system-arm device-tree-compiler gcc gcc-aarch64-linux-gnu make busybox-static cpio kmod
    local arm64="$cache/arm64"
    mkdir -p "$arm64/apt/lists/partial" "$arm64/apt/cache/archives/partial"
    touch "$arm64/apt/status"

    local version
    version=$(aarch64_kernel_version "$arm64")
    local kernel_root="$arm64/$version"
    local module="$kernel_root/extra/uio_pdrv_genirq.ko"
    if [ ! -f "$module" ]; then
        aarch64_fetch_packages "$arm64" "$version"
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

# apt-get or apt-cache (the second argument) for arm64, its state kept in ARM64/apt, apart from
# this machine's own.
aarch64_apt() {
    local arm64="$1" tool="$2"; shift 2
    "$tool" -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Dir::State::Lists="$arm64/apt/lists" \
        -o Dir::Cache="$arm64/apt/cache" -o Dir::State::Status="$arm64/apt/status" "$@"
}

# Step 1 — prints the version of Debian's current arm64 kernel (6.1.0-56-arm64), refreshing the
# package lists first unless that kernel is already built: the archive drops superseded kernels.
aarch64_kernel_version() {
    local arm64="$1" version
    version=$(aarch64_apt "$arm64" apt-cache depends linux-image-arm64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }' || true)
    if [ -z "$version" ] || [ ! -f "$arm64/$version/extra/uio_pdrv_genirq.ko" ]; then
        aarch64_apt "$arm64" apt-get -qq -o APT::Sandbox::User=root update || return 1
        version=$(aarch64_apt "$arm64" apt-cache depends linux-image-arm64 2>/dev/null \
            | awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }' || true)
    fi
    [ -n "$version" ] || { echo "==> no arm64 kernel package found" >&2; return 1; }
    echo "$version"
}

# Debian's kernel source package for a kernel version: 6.1.0-56-arm64 → linux-source-6.1.
aarch64_source_package() {
    local release="${1%%-*}"
    echo "linux-source-${release%.*}"
}

# Step 2 — downloads the arm64 kernel, its headers, busybox and qemu-user into ARM64/debs, with
# the kernel's kbuild tools and Debian's kernel source (architecture-independent), and unpacks
# all but the source into ARM64/VERSION.
aarch64_fetch_packages() {
    local arm64="$1" version="$2"
    local kernel_root="$arm64/$version" debs="$arm64/debs"
    local kernel_source
    kernel_source=$(aarch64_source_package "$version")
    echo "==> fetching the arm64 kernel, its headers and Debian's kernel source" >&2
    rm -rf "$kernel_root"
    mkdir -p "$debs" "$kernel_root/extra"
    local headers_depends headers_common kbuild
    headers_depends=$(aarch64_apt "$arm64" apt-cache show "linux-headers-$version" | sed -n 's/^Depends: //p')
    headers_common=$(echo "$headers_depends" | sed -n 's/.*\(linux-headers-[0-9.-]*-common\).*/\1/p')
    kbuild=$(echo "$headers_depends" | sed -n 's/.*\(linux-kbuild-[0-9.]*\).*/\1/p')
    (cd "$debs" && rm -f ./*.deb \
        && aarch64_apt "$arm64" apt-get -qq -o APT::Sandbox::User=root download \
            "linux-image-$version" "linux-headers-$version" "$headers_common" busybox-static qemu-user-static) \
        || { echo "==> downloading the arm64 packages failed" >&2; return 1; }
    local host_download=(apt-get download -qq -o APT::Sandbox::User=root "$kbuild" "$kernel_source")
    # The host's own lists may be missing or stale: refresh them once if the download fails.
    (cd "$debs" && "${host_download[@]}") 2>/dev/null || { apt-get update -qq && (cd "$debs" && "${host_download[@]}"); } \
        || { echo "==> downloading $kbuild and $kernel_source failed" >&2; return 1; }
    local deb
    for deb in "$debs"/*.deb; do
        case "$deb" in *linux-source*) continue ;; esac
        # Unpacked, never installed: their maintainer scripts would act on this machine.
        dpkg-deb -x "$deb" "$kernel_root"
    done
    depmod -b "$kernel_root" "$version"
}

# Step 3 — builds uio_pdrv_genirq from the kernel source against the arm64 headers with the cross
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
    make -s -C "$headers" M="$build" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules 2>&1 \
        | grep -v 'Skipping BTF generation' >&2 || true
    [ -f "$build/uio_pdrv_genirq.ko" ] || { echo "==> building uio_pdrv_genirq failed" >&2; return 1; }
    cp "$build/uio_pdrv_genirq.ko" "$module.tmp"
    mv "$module.tmp" "$module"
    # Keep what the guest uses: the kernel, its modules, busybox, qemu-user for x86_64.
    find "$kernel_root/usr/bin" -name 'qemu-*' ! -name qemu-x86_64-static -delete
    rm -rf "$build" "$arm64/debs" "$kernel_root/usr/src" "$kernel_root/usr/lib" "$kernel_root/usr/share"
}

# Step 4 — prints the path of the board's device tree (for QEMU's options after ARM64), its PL031
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
