// The raw VFIO MSI loop: an edu device on vfio-pci driven through the kernel's VFIO ABI and
// nothing else, the baseline of `uio-bench vfio`. A container with the type1v2 IOMMU, the
// device's group attached to it, the device's fd, BAR0 mapped, Bus Master on (vfio-pci leaves it
// off, and an MSI is a DMA write), and an eventfd attached to MSI vector 0.
#ifndef VFIO_MSI_H
#define VFIO_MSI_H
#include <stddef.h>
#include <stdint.h>

typedef struct vfio_msi_raw vfio_msi_raw;

// Opens the device at `slot` (0000:00:10.0) and attaches an eventfd to its MSI vector 0.
// Returns 0 and *out, or -errno: -EBUSY when another opener (the framework's) holds the group,
// which the kernel lets one have at a time.
int vfio_msi_raw_open(const char *slot, vfio_msi_raw **out);

volatile uint32_t *vfio_msi_raw_bar(vfio_msi_raw *raw);  // BAR0, its first page at least
int vfio_msi_raw_eventfd(const vfio_msi_raw *raw);

// MSI off (SET_IRQS with no data and count 0), BAR0 unmapped, every fd closed.
void vfio_msi_raw_close(vfio_msi_raw *raw);

// The loop for the paced raiser of interrupt_path.h, as baseline_uio_probed_handler: poll the
// eventfd (giving up with -ETIMEDOUT when no interrupt comes for 2 s), read() its 8-byte count,
// call interrupt_probe_isr_entered, acknowledge edu; probe->raises times. No re-arm: a message
// needs none.
struct interrupt_probe;
typedef struct vfio_msi_probed_handler vfio_msi_probed_handler;
vfio_msi_probed_handler *vfio_msi_probed_handler_start(vfio_msi_raw *raw, struct interrupt_probe *probe);
int vfio_msi_probed_handler_join(vfio_msi_probed_handler *handler);  // 0, or -errno
#endif
