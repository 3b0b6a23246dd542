#!/bin/busybox sh
# /init of the guest's initramfs: mount the host's root read-only over virtio-9p, bind the PCI
# devices at the addresses run.sh names to vfio-pci, load UIO and bind its devices (device-tree
# generic-uio nodes to uio_pdrv_genirq, other PCI devices of the ids run.sh names to
# uio_pci_generic), let qemu-user run the host's x86_64 programs on another architecture, run the
# command the host left in the results folder inside the host's root, write its exit status
# beside it, and power off. With swiftuio.systemd=1 the command runs as a service of systemd,
# started as PID 1 inside the host's root.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "guest: $*" > /dev/console; }
fail() { say "$*"; sync; poweroff -f; }

for module in $(cat /modules/order); do insmod "/modules/$module" || fail "insmod $module failed"; done

arg() { sed -n "s/.*swiftuio\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
results=$(arg results)
modules=$(arg modules)
pci=$(arg pci)
platform=$(arg platform)
binfmt=$(arg binfmt)
vfio=$(arg vfio)

top=$(arg top)

# Loads a module of the kernel's tree (its path under kernel/, without extension) with ARGS. A
# compressed one (.ko.xz, as Debian's 6.12 ships them) is unpacked first: busybox's insmod reads a
# plain .ko only.
load_kernel_module() {
    path="/host$modules/kernel/$1"; shift
    if [ ! -f "$path.ko" ] && [ -f "$path.ko.xz" ]; then
        xzcat "$path.ko.xz" > "/modules/${path##*/}.ko" || return 1
        path="/modules/${path##*/}"
    fi
    insmod "$path.ko" "$@"
}

mkdir -p /host /hosttmp
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose hostroot /host || fail "cannot mount the host's root"
# The guest gets its own writable /tmp and /run; a project that lives under the host's /tmp
# stays visible at its own path.
mount --bind /host/tmp /hosttmp
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
case "$top" in
    /tmp/*) mkdir -p "/host$top" && mount --bind "/hosttmp/${top#/tmp/}" "/host$top" ;;
esac
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "/host$results" || fail "cannot mount the results folder"
share=$(arg share)
if [ -n "$share" ]; then
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share "/host$share" || fail "cannot mount the shared folder $share"
fi
mount --bind /dev /host/dev
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys

# vfio-pci takes the PCI devices at the addresses in swiftuio.vfio ("0000:00:10.0,0000:00:11.0");
# each is ready once its group's /dev/vfio/GROUP exists.
wait_for_vfio() {
    group=$(readlink "/sys/bus/pci/devices/$1/iommu_group") || fail "$1 has no IOMMU group"
    group=${group##*/}
    n=0
    while [ ! -e "/dev/vfio/$group" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    [ -e "/dev/vfio/$group" ] || fail "no /dev/vfio/$group for $1 (driver: $(basename "$(readlink "/sys/bus/pci/devices/$1/driver")"))"
}
if [ -n "$vfio" ]; then
    # Before uio_pci_generic's new_id, which would take an edu meant for vfio-pci.
    for bdf in $(echo "$vfio" | tr , ' '); do
        [ -e "/sys/bus/pci/devices/$bdf" ] || fail "no PCI device $bdf for vfio-pci"
        echo vfio-pci > "/sys/bus/pci/devices/$bdf/driver_override" || fail "driver_override of $bdf failed"
    done
    # With the host's kmod (this is the x86_64 guest), which follows the kernel's own modules.dep:
    # the modules differ between kernels (6.12 folds vfio_virqfd into vfio). vfio_iommu_type1
    # named too: without it VFIO_SET_IOMMU fails (ENODEV). No configuration (-C /dev/null): the
    # host's modprobe.d is not the guest's.
    for module in vfio_iommu_type1 vfio-pci; do
        chroot /host /sbin/modprobe -C /dev/null -d "${modules%/lib/modules/*}" -S "${modules##*/}" "$module" \
            || fail "modprobe $module failed"
    done
    for bdf in $(echo "$vfio" | tr , ' '); do
        [ ! -e "/sys/bus/pci/devices/$bdf/driver" ] || echo "$bdf" > "/sys/bus/pci/devices/$bdf/driver/unbind"
        echo "$bdf" > /sys/bus/pci/drivers_probe
        wait_for_vfio "$bdf"
    done
fi

wait_for_uio() {
    n=0
    while [ "$(ls /sys/class/uio 2>/dev/null | wc -l)" -lt "$1" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    [ "$(ls /sys/class/uio | wc -l)" -eq "$1" ] || fail "expected $1 uio devices, found: $(ls /sys/class/uio)"
}
if [ -n "$pci$platform" ]; then
    load_kernel_module drivers/uio/uio || fail "insmod uio failed"
fi
expected=0
if [ -n "$platform" ]; then
    # of_id: the device-tree "compatible" the module claims (it has no match table of its own)
    insmod "/host$platform" of_id=generic-uio || fail "insmod uio_pdrv_genirq failed"
    expected=1
fi
if [ -n "$pci" ]; then
    load_kernel_module drivers/uio/uio_pci_generic || fail "insmod uio_pci_generic failed"
    for id in $(echo "$pci" | tr , ' '); do
        # new_id: every device of these ids that has no driver, now and when hot-plugged later
        echo "${id%:*} ${id#*:}" > /sys/bus/pci/drivers/uio_pci_generic/new_id || fail "new_id $id failed"
        found=0
        for device in /sys/bus/pci/devices/*; do
            [ "$(cat "$device/vendor"):$(cat "$device/device")" = "0x${id%:*}:0x${id#*:}" ] || continue
            case ",$vfio," in *",${device##*/},"*) continue ;; esac # vfio-pci's
            found=$((found + 1))
            # One another driver holds (virtio-pci's, say) goes over through driver_override.
            if [ -e "$device/driver" ] && [ "$(basename "$(readlink "$device/driver")")" != uio_pci_generic ]; then
                echo uio_pci_generic > "$device/driver_override"
                echo "${device##*/}" > "$device/driver/unbind"
                echo "${device##*/}" > /sys/bus/pci/drivers_probe
            fi
        done
        [ $found -gt 0 ] || fail "no PCI device $id to bind to uio_pci_generic"
        expected=$((expected + found))
    done
fi
[ $expected -eq 0 ] || wait_for_uio $expected

if [ -n "$binfmt" ]; then
    # F: the interpreter is opened now, so it also serves programs inside the chroot.
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    printf '%s' ':qemu-x86_64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"/host$binfmt"':F' \
        > /proc/sys/fs/binfmt_misc/register || fail "cannot register qemu-x86_64 with binfmt_misc"
fi

if [ "$(arg systemd)" = 1 ]; then
    # systemd as PID 1 in the host's root, booting only the command's target: udevd from the
    # unpacked udev package, journald, and the command as a service whose end powers off.
    udev=$(arg udev)
    for dir in /host/var/tmp /host/var/log/journal /host/var/lib/systemd; do
        [ -d "$dir" ] && mount -t tmpfs tmpfs "$dir"
    done
    units=/host/run/systemd/system
    mkdir -p "$units"
    for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service; do
        sed -e "s|/lib/systemd/systemd-udevd|$udev/lib/systemd/systemd-udevd|" -e "s|\([-=]\)udevadm |\1$udev/bin/udevadm |" \
            "/host$udev/lib/systemd/system/$unit" > "$units/$unit" || fail "no $unit in $udev"
    done
    cat > /host/run/swift-uio-command <<COMMAND
#!/bin/bash
: > "$results/started"
/bin/bash "$results/command.sh"
echo \$? > "$results/status"
sync
COMMAND
    cat > "$units/swift-uio-command.service" <<UNIT
[Unit]
Description=The guest's command
Wants=systemd-journald.service systemd-udevd.service systemd-udev-trigger.service
After=systemd-journald.service systemd-udevd.service systemd-udev-trigger.service
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/bin/bash /run/swift-uio-command
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
UNIT
    cat > "$units/swift-uio-guest.target" <<UNIT
[Unit]
Description=The guest's command under systemd
Requires=swift-uio-command.service
After=swift-uio-command.service
UNIT
    exec chroot /host /lib/systemd/systemd --unit=swift-uio-guest.target --show-status=false
fi

: > "/host$results/started"  # for run.sh: what follows is the command's
chroot /host /bin/bash "$results/command.sh"
echo $? > "/host$results/status"
sync
poweroff -f
