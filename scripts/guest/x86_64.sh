# Sourced by run.sh: the x86_64 guest. Debian's generic amd64 kernel (it has uio, uio_pci_generic
# and 9p as modules) and QEMU's edu PCI devices.
ensure_packages qemu-system-x86 busybox-static cpio kmod

# --- the kernel
kernel_package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel_package" ]; then
    apt-get update -qq
    kernel_package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
version=${kernel_package#linux-image-}
kernel_root="$cache/$version"
if [ ! -f "$kernel_root/boot/vmlinuz-$version" ]; then
    echo "==> fetching $kernel_package" >&2
    rm -rf "$kernel_root" "$cache"/*.deb
    (cd "$cache" && apt-get download -qq "$kernel_package" >/dev/null 2>&1)
    # Unpacked, never installed: its maintainer scripts would run against this machine's /boot.
    dpkg-deb -x "$cache/${kernel_package}"_*.deb "$kernel_root"
    rm -f "$cache/${kernel_package}"_*.deb
    depmod -b "$kernel_root" "$version"
fi

build_initramfs /bin/busybox virtio_pci 9pnet_virtio 9p

uio_spec="pci:$edu"
for index in $(seq 0 $((edu - 1))); do devices+=(-device "edu,id=edu$index"); done
qemu_command=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2G -smp "$cpus" -M pc
    -kernel "$kernel_root/boot/vmlinuz-$version")
console=ttyS0
