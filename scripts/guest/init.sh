#!/bin/busybox sh
# /init of the guest's initramfs: mount the host's root read-only over virtio-9p, load UIO, bind
# every edu device to uio_pci_generic, run the command the host left in the results folder inside
# the host's root, write its exit status beside it, and power off.
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
edu_count=$(arg edu)

top=$(arg top)

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

if [ "${edu_count:-0}" -gt 0 ]; then
    insmod "/host$modules/kernel/drivers/uio/uio.ko" || fail "insmod uio failed"
    insmod "/host$modules/kernel/drivers/uio/uio_pci_generic.ko" || fail "insmod uio_pci_generic failed"
    echo "1234 11e8" > /sys/bus/pci/drivers/uio_pci_generic/new_id
    n=0
    while [ "$(ls /sys/class/uio 2>/dev/null | wc -l)" -lt "$edu_count" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    [ "$(ls /sys/class/uio | wc -l)" -eq "$edu_count" ] || fail "expected $edu_count uio devices, found: $(ls /sys/class/uio)"
fi

chroot /host /bin/bash "$results/command.sh"
echo $? > "/host$results/status"
sync
poweroff -f
