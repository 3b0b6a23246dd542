#define _GNU_SOURCE
#include "vfio_msi.h"
#include "interrupt_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

// edu's registers (QEMU hw/misc/edu.c), as in Sources/QEMUDevices/Edu.swift.
enum { EDU_INTERRUPT_STATUS = 0x24, EDU_ACKNOWLEDGE = 0x64 };
enum { PCI_COMMAND_OFFSET = 4 };
static const uint16_t PCI_COMMAND_BUS_MASTER = 0x4;

struct vfio_msi_raw {
    int container, group, device, eventfd;
    volatile uint32_t *bar;
    size_t bar_length;
    int msi_enabled;
};

// The device's IOMMU group number, from the name sysfs links it to.
static int iommu_group(const char *slot) {
    char path[128], target[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", slot);
    ssize_t length = readlink(path, target, sizeof target - 1);
    if (length <= 0) return -errno;
    target[length] = 0;
    const char *name = strrchr(target, '/');
    return atoi(name ? name + 1 : target);
}

static int region_info(int device, uint32_t index, struct vfio_region_info *info) {
    *info = (struct vfio_region_info){.argsz = sizeof *info, .index = index};
    return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) == 0 ? 0 : -errno;
}

// eventfd >= 0 attaches it to MSI vector 0; -1 disables MSI (no data, count 0).
static int set_msi(int device, int eventfd) {
    char buffer[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    struct vfio_irq_set *set = (struct vfio_irq_set *)buffer;
    *set = (struct vfio_irq_set){.argsz = sizeof buffer, .index = VFIO_PCI_MSI_IRQ_INDEX, .start = 0};
    if (eventfd >= 0) {
        set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
        set->count = 1;
        memcpy(set->data, &(int32_t){eventfd}, sizeof(int32_t));
    } else {
        set->argsz = sizeof *set;
        set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
        set->count = 0;
    }
    return ioctl(device, VFIO_DEVICE_SET_IRQS, set) == 0 ? 0 : -errno;
}

static int open_device(vfio_msi_raw *raw, const char *slot) {
    if ((raw->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) return -errno;
    if (ioctl(raw->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) return -EINVAL;
    if (ioctl(raw->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) return -ENODEV;
    int number = iommu_group(slot);
    if (number < 0) return number;
    char path[64];
    snprintf(path, sizeof path, "/dev/vfio/%d", number);
    if ((raw->group = open(path, O_RDWR | O_CLOEXEC)) < 0) return -errno;
    struct vfio_group_status status = {.argsz = sizeof status};
    if (ioctl(raw->group, VFIO_GROUP_GET_STATUS, &status) != 0) return -errno;
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) return -EINVAL;
    if (ioctl(raw->group, VFIO_GROUP_SET_CONTAINER, &raw->container) != 0) return -errno;
    if (ioctl(raw->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) return -errno;
    if ((raw->device = ioctl(raw->group, VFIO_GROUP_GET_DEVICE_FD, slot)) < 0) return -errno;

    struct vfio_region_info bar, config;
    int error;
    if ((error = region_info(raw->device, VFIO_PCI_BAR0_REGION_INDEX, &bar)) != 0) return error;
    if ((error = region_info(raw->device, VFIO_PCI_CONFIG_REGION_INDEX, &config)) != 0) return error;
    if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < 4096) return -EINVAL;
    void *mapped = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, raw->device, (off_t)bar.offset);
    if (mapped == MAP_FAILED) return -errno;
    raw->bar = mapped;
    raw->bar_length = bar.size;

    uint16_t command;
    if (pread(raw->device, &command, 2, (off_t)(config.offset + PCI_COMMAND_OFFSET)) != 2) return -errno;
    command |= PCI_COMMAND_BUS_MASTER;
    if (pwrite(raw->device, &command, 2, (off_t)(config.offset + PCI_COMMAND_OFFSET)) != 2) return -errno;

    if ((raw->eventfd = eventfd(0, EFD_CLOEXEC)) < 0) return -errno;
    if ((error = set_msi(raw->device, raw->eventfd)) != 0) return error;
    raw->msi_enabled = 1;
    return 0;
}

int vfio_msi_raw_open(const char *slot, vfio_msi_raw **out) {
    vfio_msi_raw *raw = calloc(1, sizeof *raw);
    if (!raw) return -ENOMEM;
    raw->container = raw->group = raw->device = raw->eventfd = -1;
    int status = open_device(raw, slot);
    if (status != 0) {
        vfio_msi_raw_close(raw);
        return status;
    }
    *out = raw;
    return 0;
}

volatile uint32_t *vfio_msi_raw_bar(vfio_msi_raw *raw) { return raw->bar; }
int vfio_msi_raw_eventfd(const vfio_msi_raw *raw) { return raw->eventfd; }

void vfio_msi_raw_close(vfio_msi_raw *raw) {
    if (raw->msi_enabled) set_msi(raw->device, -1);
    if (raw->eventfd >= 0) close(raw->eventfd);
    if (raw->bar) munmap((void *)raw->bar, raw->bar_length);
    // The device before the group, the group before the container: the kernel's order.
    if (raw->device >= 0) close(raw->device);
    if (raw->group >= 0) close(raw->group);
    if (raw->container >= 0) close(raw->container);
    free(raw);
}

// ---- the handler thread -----------------------------------------------------------------------

struct vfio_msi_probed_handler {
    pthread_t thread;
    vfio_msi_raw *raw;
    interrupt_probe *probe;
    int status;
};

static int wait_for_interrupt(int eventfd) {
    struct pollfd fd = {.fd = eventfd, .events = POLLIN};
    int ready;
    do { ready = poll(&fd, 1, 2000); } while (ready < 0 && errno == EINTR);
    return ready < 0 ? -errno : ready == 0 ? -ETIMEDOUT : 0;
}

static void *probed_handler_loop(void *argument) {
    struct vfio_msi_probed_handler *h = argument;
    volatile uint32_t *bar = h->raw->bar;
    for (size_t i = 0; i < h->probe->raises; i++) {
        uint64_t count;
        if ((h->status = wait_for_interrupt(h->raw->eventfd)) != 0) return NULL;
        if (read(h->raw->eventfd, &count, sizeof count) != sizeof count) { h->status = -errno; return NULL; }
        interrupt_probe_isr_entered(h->probe);
        bar[EDU_ACKNOWLEDGE / 4] = bar[EDU_INTERRUPT_STATUS / 4];
    }
    return NULL;
}

vfio_msi_probed_handler *vfio_msi_probed_handler_start(vfio_msi_raw *raw, interrupt_probe *probe) {
    vfio_msi_probed_handler *h = calloc(1, sizeof *h);
    *h = (vfio_msi_probed_handler){.raw = raw, .probe = probe};
    pthread_create(&h->thread, NULL, probed_handler_loop, h);
    return h;
}

int vfio_msi_probed_handler_join(vfio_msi_probed_handler *h) {
    pthread_join(h->thread, NULL);
    int status = h->status;
    free(h);
    return status;
}
