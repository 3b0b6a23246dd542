# Sourced by run.sh: the x86_64 guest, one of Debian's amd64 kernels (kernels.sh; each has uio,
# uio_pci_generic, vfio-pci and 9p as modules) on QEMU's pc board, or on q35 with an Intel IOMMU
# for VFIO. run.sh adds the edu devices, like any other device.
#
# guest_x86_64 CACHE CPUS [IOMMU [KERNEL]]
#   CACHE   the folder for downloads (the kernel package, unpacked under CACHE/VERSION)
#   CPUS    the number of virtual CPUs
#   IOMMU   1: the q35 board with an Intel IOMMU (interrupt remapping on); 0 or absent: the pc board
#   KERNEL  6.1 (default), 6.12 or 6.12-rt, as kernels.sh names them
# Sets only run.sh's guest_* outputs (run.sh declares them):
#   guest_kernel_root, guest_kernel_version  the unpacked kernel package, its modules depmod-ed
#   guest_busybox            a static busybox of the guest's architecture, for the initramfs
#   guest_initramfs_modules  (array) modules the initramfs loads to mount the host's root
#   guest_qemu               (array) QEMU, its board (with the IOMMU, the first -device), CPUs,
#                            memory and -kernel
#   guest_kernel_args        kernel command-line words the board needs: the IOMMU's, or none
#   guest_console            the serial console's device name
#   guest_uio_platform       a uio_pdrv_genirq module to load with of_id=generic-uio: none here
#   guest_binfmt             a qemu-user for the host's x86_64 programs: none needed here
#   guest_env                (associative) variables for the guest's command: none here
guest_x86_64() {
    local cache="$1" cpus="$2" iommu="${3:-0}" kernel="${4:-6.1}"
    ensure_packages qemu-system-x86 busybox-static cpio kmod xz-utils

    local state version
    state=$(kernel_apt_state "$cache" "$kernel")
    version=$(kernel_version "$state" "$kernel" amd64 "$cache/@VERSION@/boot/vmlinuz-@VERSION@")
    local kernel_root="$cache/$version"
    if [ ! -f "$kernel_root/boot/vmlinuz-$version" ]; then
        echo "==> fetching linux-image-$version" >&2
        rm -rf "$kernel_root" "$cache"/*.deb
        (cd "$cache" && kernel_apt "$state" apt-get download -qq "linux-image-$version" >/dev/null) \
            || { echo "==> downloading linux-image-$version failed" >&2; return 1; }
        # Unpacked, never installed: its maintainer scripts would run against this machine's /boot.
        dpkg-deb -x "$cache/linux-image-${version}"_*.deb "$kernel_root"
        rm -f "$cache/linux-image-${version}"_*.deb
        depmod -b "$kernel_root" "$version"
    fi

    guest_kernel_root="$kernel_root"
    guest_kernel_version="$version"
    guest_busybox=/bin/busybox
    guest_initramfs_modules=(virtio_pci 9pnet_virtio 9p)
    local board=(-M pc)
    guest_kernel_args=""
    if [ "$iommu" = 1 ]; then
        # QEMU wants intel-iommu before every other -device; q35 would add a VGA card otherwise.
        # VFIO needs interrupt remapping (intremap=on): without it VFIO_SET_IOMMU fails (EPERM).
        board=(-M q35 -vga none -device intel-iommu,intremap=on)
        # iommu=pt: devices outside VFIO keep an identity mapping, so uio_pci_generic's DMA to
        # physical addresses still lands (the kernel would translate them all, and fault it).
        guest_kernel_args="intel_iommu=on iommu=pt"
    fi
    guest_qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2G -smp "$cpus" "${board[@]}"
        -kernel "$kernel_root/boot/vmlinuz-$version")
    guest_console=ttyS0
    guest_uio_platform=""
    guest_binfmt=""
    guest_env=()
}
