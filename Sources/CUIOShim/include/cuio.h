// The C side of swift-uio: only what Swift cannot express cleanly.
// Every function that can fail returns 0 (or a count) on success and -errno on failure,
// so Swift never reads a thread-local errno after the fact.
#ifndef CUIO_H
#define CUIO_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- threads -------------------------------------------------------------
/// The kernel thread id of the calling thread (glibc's gettid() is not in every libc).
pid_t cuio_gettid(void);
/// Names the calling thread (the kernel keeps 15 characters): GNU-only, so not visible to Swift.
void cuio_set_thread_name(const char *name);
/// A spin-wait hint: PAUSE on x86, YIELD on Arm.
void cuio_cpu_relax(void);

// ---- MMIO ----------------------------------------------------------------
// Volatile accesses, so the compiler neither merges, splits, reorders nor elides them.
// Stores are preceded by a release fence (earlier memory writes reach memory before the
// device sees the store) and loads followed by an acquire fence, as the kernel's writel/readl.
uint8_t  cuio_mmio_read8(const void *address);
uint16_t cuio_mmio_read16(const void *address);
uint32_t cuio_mmio_read32(const void *address);
uint64_t cuio_mmio_read64(const void *address);
void cuio_mmio_write8(void *address, uint8_t value);
void cuio_mmio_write16(void *address, uint16_t value);
void cuio_mmio_write32(void *address, uint32_t value);
void cuio_mmio_write64(void *address, uint64_t value);

// ---- files ---------------------------------------------------------------
/// flock(fd, operation): Swift sees only the struct of the same name. Returns 0 or -errno.
int cuio_flock(int fd, int operation);

// ---- the /dev/uioN protocol ---------------------------------------------
/// read(fd, &count, 4): the device's total interrupt count. Returns bytes read or -errno.
ssize_t cuio_read_count(int fd, uint32_t *count);
/// write(fd, &value, 4) to irqcontrol: 1 enables, 0 disables. Returns bytes written or -errno.
ssize_t cuio_write_control(int fd, uint32_t value);

/// poll() on the interrupt fd and a wake-up fd together.
/// timeout_ns < 0 waits forever. Returns the number of ready fds (0 on timeout) or -errno;
/// the revents of each fd are stored through the pointers.
int cuio_poll_pair(int interrupt_fd, int wake_fd, int64_t timeout_ns,
                   short *interrupt_revents, short *wake_revents);

// ---- eventfd ------------------------------------------------------------
/// A non-blocking, close-on-exec eventfd. Returns the fd or -errno.
int cuio_eventfd_create(void);
/// Adds 1 to the eventfd counter. Returns 0 or -errno.
int cuio_eventfd_signal(int fd);
/// Reads and resets the eventfd counter. Returns 0, or -EAGAIN when it was zero, or -errno.
int cuio_eventfd_drain(int fd);

// ---- memory mapping -----------------------------------------------------
/// mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, offset).
/// Returns 0 and stores the address, or -errno.
int cuio_mmap_shared(int fd, size_t length, off_t offset, void **address);
/// munmap. Returns 0 or -errno.
int cuio_munmap(void *address, size_t length);
/// memfd_create(name, MFD_CLOEXEC): anonymous memory as a file, for simulated devices.
/// Returns the fd or -errno.
int cuio_memfd_create(const char *name);
/// The system's page size.
size_t cuio_page_size(void);

#ifdef __cplusplus
}
#endif
#endif
