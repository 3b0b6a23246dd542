# Sourced by run.sh: the aarch64 guest. Debian's arm64 kernel on QEMU's virt board, whose PL031
# RTC the device tree re-declares "generic-uio", bound to uio_pdrv_genirq (built here from
# Debian's kernel source: Debian does not ship it). Host-built x86_64 programs run through
# qemu-user, registered with binfmt_misc.
ensure_packages qemu-system-arm device-tree-compiler gcc gcc-aarch64-linux-gnu make busybox-static cpio kmod

arm64="$cache/arm64"
# apt for arm64, its state kept apart from this machine's own
arm64_options=(-o APT::Architecture=arm64 -o APT::Architectures=arm64
    -o Dir::State::Lists="$arm64/apt/lists" -o Dir::Cache="$arm64/apt/cache"
    -o Dir::State::Status="$arm64/apt/status")
arm64_apt() { apt-get -qq -o APT::Sandbox::User=root "${arm64_options[@]}" "$@"; }
arm64_kernel_version() {
    apt-cache "${arm64_options[@]}" depends linux-image-arm64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }'
}
mkdir -p "$arm64/apt/lists/partial" "$arm64/apt/cache/archives/partial"
touch "$arm64/apt/status"
version=$(arm64_kernel_version || true)
if [ -z "$version" ] || [ ! -f "$arm64/$version/extra/uio_pdrv_genirq.ko" ]; then
    # Fresh package lists before fetching: the archive drops superseded kernels.
    arm64_apt update
    version=$(arm64_kernel_version || true)
fi
[ -n "$version" ] || { echo "==> no arm64 kernel package found" >&2; exit 1; }
kernel_root="$arm64/$version"
module="$kernel_root/extra/uio_pdrv_genirq.ko"
kernel_source="${version%%-*}" # 6.1.0 → 6.1
kernel_source="linux-source-${kernel_source%.*}"

if [ ! -f "$module" ]; then
    echo "==> fetching the arm64 kernel, its headers and Debian's kernel source" >&2
    rm -rf "$kernel_root"
    mkdir -p "$arm64/debs" "$kernel_root/extra"
    headers_depends=$(apt-cache "${arm64_options[@]}" show "linux-headers-$version" | sed -n 's/^Depends: //p')
    headers_common=$(echo "$headers_depends" | sed -n 's/.*\(linux-headers-[0-9.-]*-common\).*/\1/p')
    kbuild=$(echo "$headers_depends" | sed -n 's/.*\(linux-kbuild-[0-9.]*\).*/\1/p')
    host_download() { (cd "$arm64/debs" && apt-get download -qq -o APT::Sandbox::User=root "$kbuild" "$kernel_source"); }
    (cd "$arm64/debs" && rm -f ./*.deb \
        && arm64_apt download "linux-image-$version" "linux-headers-$version" "$headers_common" busybox-static qemu-user-static) \
        || { echo "==> downloading the arm64 packages failed" >&2; exit 1; }
    # The host's own lists may be missing or stale: refresh them once if the download fails.
    host_download 2>/dev/null || { apt-get update -qq && host_download; } \
        || { echo "==> downloading $kbuild and $kernel_source failed" >&2; exit 1; }
    for deb in "$arm64/debs"/*.deb; do
        case "$deb" in *linux-source*) continue ;; esac
        # Unpacked, never installed: their maintainer scripts would act on this machine.
        dpkg-deb -x "$deb" "$kernel_root"
    done
    depmod -b "$kernel_root" "$version"

    echo "==> building uio_pdrv_genirq for arm64" >&2
    build=$(mktemp -d)
    dpkg-deb --fsys-tarfile "$arm64/debs/${kernel_source}"_*.deb | tar -xO "./usr/src/$kernel_source.tar.xz" \
        | tar -xJO "$kernel_source/drivers/uio/uio_pdrv_genirq.c" > "$build/uio_pdrv_genirq.c"
    echo 'obj-m := uio_pdrv_genirq.o' > "$build/Kbuild"
    headers="$kernel_root/usr/src/linux-headers-$version"
    # The headers' Makefile includes the -common tree by its installed, absolute path.
    sed -i "s|^include /usr/src/|include $kernel_root/usr/src/|" "$headers/Makefile"
    make -s -C "$headers" M="$build" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules 2>&1 \
        | grep -v 'Skipping BTF generation' >&2 || true
    [ -f "$build/uio_pdrv_genirq.ko" ] || { echo "==> building uio_pdrv_genirq failed" >&2; exit 1; }
    cp "$build/uio_pdrv_genirq.ko" "$module.tmp"
    mv "$module.tmp" "$module"
    # Keep what the guest uses: the kernel, its modules, busybox, qemu-user for x86_64.
    find "$kernel_root/usr/bin" -name 'qemu-*' ! -name qemu-x86_64-static -delete
    rm -rf "$build" "$arm64/debs" "$kernel_root/usr/src" "$kernel_root/usr/lib" "$kernel_root/usr/share"
fi

# --- the board's device tree, its PL031 re-declared a generic-uio platform device. Its node gets
# a second register region, the PL061 GPIO block's identification registers only (0x20 bytes at
# 0xfe0 into its page, read-only use), so the UIO device has two named maps, as a node with
# several `reg` entries does, and the second is smaller than a page and starts inside one.
machine=(-M virt -cpu cortex-a57 -accel tcg,thread=multi -smp "$cpus" -m 2G)
patch='/pl031@/ { in_rtc = 1 }
in_rtc && /reg =/ { print "\t\treg = <0x00 0x9010000 0x00 0x1000 0x00 0x9030fe0 0x00 0x20>;"; print "\t\treg-names = \"rtc\", \"gpio\";"; next }
in_rtc && /compatible =/ { print "\t\tcompatible = \"generic-uio\";"; print "\t\tlinux,uio-name = \"pl031-uio\";"; in_rtc = 0; next }
{ print }'
dtb="$arm64/virt-$(echo "${machine[*]} $patch" | sha256sum | cut -c1-12).dtb"
if [ ! -f "$dtb" ]; then
    qemu-system-aarch64 "${machine[@]}" -machine dumpdtb="$dtb.board" -display none >/dev/null 2>&1
    dtc -q -I dtb -O dts "$dtb.board" | awk "$patch" | dtc -q -I dts -O dtb -o "$dtb.tmp"
    grep -q generic-uio "$dtb.tmp" || { echo "==> patching the device tree failed" >&2; exit 1; }
    mv "$dtb.tmp" "$dtb"
    rm -f "$dtb.board"
fi

build_initramfs "$kernel_root/bin/busybox" virtio_pci 9pnet_virtio 9p binfmt_misc

uio_spec="platform:$module"
# For checks that reload the module: the guest's own (arm64) busybox, since qemu-user cannot
# emulate delete_module for the host's rmmod.
export SWIFT_UIO_GUEST_MODULE="$module" SWIFT_UIO_GUEST_BUSYBOX="$kernel_root/bin/busybox"
passed_env+=(SWIFT_UIO_GUEST_MODULE SWIFT_UIO_GUEST_BUSYBOX)
binfmt="$kernel_root/usr/bin/qemu-x86_64-static"
qemu_command=(qemu-system-aarch64 "${machine[@]}" -dtb "$dtb" -kernel "$kernel_root/boot/vmlinuz-$version")
console=ttyAMA0
