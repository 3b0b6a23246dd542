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
/// Lets `thread` run only on the `count` CPUs in `cpus`: 0, or -errno (EINVAL: none of them is
/// online or allowed). The CPU-set macros are not visible to Swift.
int cuio_thread_set_affinity(pthread_t thread, const int *cpus, int count);
/// Gives `thread` the real-time policy SCHED_FIFO at `priority` (1...99): 0, or -errno (EPERM
/// without CAP_SYS_NICE or an RLIMIT_RTPRIO that allows the priority).
int cuio_thread_set_fifo(pthread_t thread, int priority);

/// A spin-wait hint: PAUSE on x86, YIELD on Arm. Inline, so a spin loop stays a loop.
static inline void cuio_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/// A number that identifies the calling thread while it lives: the address of a thread-local
/// byte. Cheaper than pthread_self(), a call into libc; the framework's locks compare it on
/// every acquire and release to enforce non-recursion.
// initial-exec: the address is one add to the thread pointer, not a call to __tls_get_addr, which
// position-independent code would otherwise make on every lock operation.
extern __thread char cuio_thread_marker __attribute__((tls_model("initial-exec")));
static inline uintptr_t cuio_current_thread(void) { return (uintptr_t)&cuio_thread_marker; }

/// Sleeps while the 32-bit word at `word` still holds `expected` (a private futex): 0 when woken,
/// -EAGAIN when the word had already changed, -EINTR on a signal. The syscall has no libc wrapper.
int cuio_futex_wait(uint32_t *word, uint32_t expected);
/// Wakes up to `count` threads sleeping on `word`; the number woken, or -errno.
int cuio_futex_wake(uint32_t *word, int count);

// ---- per-thread operation counts --------------------------------------
// What a test counts to pin the work done per interrupt. Thread-local, so the counts of one
// thread are not disturbed by others; incremented by debug builds only.
extern __thread uint64_t cuio_thread_lock_acquisitions __attribute__((tls_model("initial-exec")));
extern __thread uint64_t cuio_thread_system_calls __attribute__((tls_model("initial-exec")));
static inline void cuio_count_lock_acquisition(void) { cuio_thread_lock_acquisitions++; }
static inline void cuio_count_system_call(void) { cuio_thread_system_calls++; }
static inline uint64_t cuio_lock_acquisitions_on_this_thread(void) { return cuio_thread_lock_acquisitions; }
static inline uint64_t cuio_system_calls_on_this_thread(void) { return cuio_thread_system_calls; }

// ---- MMIO ----------------------------------------------------------------
// Volatile accesses, so the compiler neither merges, splits, reorders nor elides them.
// Stores are preceded by a release fence (earlier memory writes reach memory before the
// device sees the store) and loads followed by an acquire fence, as the kernel's writel/readl.
// Inline, so Swift code compiles each access to the instruction C would.
#define CUIO_MMIO(bits)                                                                      \
    static inline uint##bits##_t cuio_mmio_read##bits(const void *address) {                 \
        uint##bits##_t value = *(const volatile uint##bits##_t *)address;                    \
        __atomic_thread_fence(__ATOMIC_ACQUIRE);                                             \
        return value;                                                                        \
    }                                                                                        \
    static inline void cuio_mmio_write##bits(void *address, uint##bits##_t value) {          \
        __atomic_thread_fence(__ATOMIC_RELEASE);                                             \
        *(volatile uint##bits##_t *)address = value;                                         \
    }
CUIO_MMIO(8)
CUIO_MMIO(16)
CUIO_MMIO(32)
CUIO_MMIO(64)
#undef CUIO_MMIO

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

/// Blocks until `fd` reports POLLERR or POLLHUP (poll reports them unasked; POLLIN is not
/// asked for, so interrupts do not wake the caller) or `wake_fd` is readable.
/// Returns 1 for an error or hangup on `fd`, 0 when woken, or -errno.
int cuio_poll_removal(int fd, int wake_fd);

// ---- eventfd ------------------------------------------------------------
/// A non-blocking, close-on-exec eventfd. Returns the fd or -errno.
int cuio_eventfd_create(void);
/// Adds 1 to the eventfd counter. Returns 0 or -errno.
int cuio_eventfd_signal(int fd);
/// Reads and resets the eventfd counter. Returns 0, or -EAGAIN when it was zero, or -errno.
int cuio_eventfd_drain(int fd);
/// Reads and resets the eventfd counter into `value`. Returns 0, or -EAGAIN when it was zero, or
/// -errno.
int cuio_eventfd_read(int fd, uint64_t *value);

// ---- ioctl --------------------------------------------------------------
// Swift imports no variadic function. VFIO's requests take a pointer or a plain value.

/// ioctl(fd, request, arg). Returns the call's non-negative result (an fd, a count) or -errno.
int cuio_ioctl_pointer(int fd, unsigned long request, void *arg);
/// ioctl(fd, request, value). Returns the call's non-negative result or -errno.
int cuio_ioctl_value(int fd, unsigned long request, unsigned long value);

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

// ---- DMA memory ---------------------------------------------------------
/// memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB when huge_pages): memory for DMA, shared so a
/// fork never makes it copy-on-write. Returns the fd or -errno.
int cuio_memfd_create_dma(const char *name, int huge_pages);
/// ftruncate. Returns 0 or -errno.
int cuio_ftruncate(int fd, off_t length);
/// Faults the memory in (madvise MADV_POPULATE_WRITE: an error, where a touch could SIGBUS; a
/// touch of each page before Linux 5.14), then madvise(MADV_DONTFORK): never shared with a
/// child. Returns 0 or -errno.
int cuio_populate_dma_memory(void *address, size_t length);

// ---- removal guard ------------------------------------------------------
// After a device is removed, the kernel may tear down a mapping of its registers (a sysfs
// resourceN does), and the next access raises SIGBUS. A signal handler must be C (async-signal
// safe): it replaces the guarded mapping that faulted with anonymous memory and the access runs
// again. What to guard, and when to retire a mapping without a fault, is decided in Swift.

/// Guards [start, start + length): a SIGBUS inside it retires the mapping. Installs the
/// handler on first use. Returns 0, or -ENOSPC when 256 mappings are guarded already.
int cuio_guard_mapping(void *start, size_t length);
/// Stops guarding the mapping at `start` (before it is unmapped).
void cuio_unguard_mapping(void *start);
/// Replaces the mapping at `start` with private anonymous memory at the same address, every
/// byte 0xff (what a PCI read of a device that is gone returns). Async-signal safe.
/// Returns 0 or -errno.
int cuio_retire_mapping(void *start, size_t length);

#ifdef __cplusplus
}
#endif
#endif
