#define _GNU_SOURCE
#include "cuio.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

pid_t cuio_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int cuio_thread_set_affinity(pthread_t thread, const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return -pthread_setaffinity_np(thread, sizeof set, &set);
}

int cuio_thread_set_fifo(pthread_t thread, int priority) {
    struct sched_param parameters = {.sched_priority = priority};
    return -pthread_setschedparam(thread, SCHED_FIFO, &parameters);
}

int cuio_futex_wait(uint32_t *word, uint32_t expected) {
    long result = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    return result < 0 ? -errno : 0;
}

int cuio_futex_wake(uint32_t *word, int count) {
    long result = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
    return result < 0 ? -errno : (int)result;
}

void cuio_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

__thread char cuio_thread_marker;
__thread uint64_t cuio_thread_lock_acquisitions;
__thread uint64_t cuio_thread_system_calls;

int cuio_flock(int fd, int operation) { return flock(fd, operation) < 0 ? -errno : 0; }

ssize_t cuio_read_count(int fd, uint32_t *count) {
    ssize_t n = read(fd, count, sizeof *count);
    return n < 0 ? -errno : n;
}

ssize_t cuio_write_control(int fd, uint32_t value) {
    ssize_t n = write(fd, &value, sizeof value);
    return n < 0 ? -errno : n;
}

int cuio_poll_removal(int fd, int wake_fd) {
    struct pollfd fds[2] = {
        {.fd = fd, .events = 0},
        {.fd = wake_fd, .events = POLLIN},
    };
    int n = ppoll(fds, 2, NULL, NULL);
    if (n < 0) return -errno;
    return (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) ? 1 : 0;
}

int cuio_poll_pair(int interrupt_fd, int wake_fd, int64_t timeout_ns,
                   short *interrupt_revents, short *wake_revents) {
    struct pollfd fds[2] = {
        {.fd = interrupt_fd, .events = POLLIN},
        {.fd = wake_fd, .events = POLLIN},
    };
    struct timespec timeout = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    int n = ppoll(fds, wake_fd >= 0 ? 2 : 1, timeout_ns < 0 ? NULL : &timeout, NULL);
    if (n < 0) return -errno;
    *interrupt_revents = fds[0].revents;
    *wake_revents = fds[1].revents;
    return n;
}

int cuio_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cuio_eventfd_signal(int fd) { return eventfd_write(fd, 1) < 0 ? -errno : 0; }

int cuio_eventfd_drain(int fd) {
    eventfd_t value;
    return eventfd_read(fd, &value) < 0 ? -errno : 0;
}

int cuio_eventfd_read(int fd, uint64_t *value) {
    eventfd_t counter;
    if (eventfd_read(fd, &counter) < 0) return -errno;
    *value = counter;
    return 0;
}

int cuio_ioctl_pointer(int fd, unsigned long request, void *arg) {
    int r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

int cuio_ioctl_value(int fd, unsigned long request, unsigned long value) {
    int r = ioctl(fd, request, value);
    return r < 0 ? -errno : r;
}

int cuio_mmap_shared(int fd, size_t length, off_t offset, void **address) {
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (p == MAP_FAILED) return -errno;
    *address = p;
    return 0;
}

int cuio_munmap(void *address, size_t length) { return munmap(address, length) < 0 ? -errno : 0; }

int cuio_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

size_t cuio_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

int cuio_memfd_create_dma(const char *name, int huge_pages) {
    int fd = memfd_create(name, MFD_CLOEXEC | (huge_pages ? MFD_HUGETLB : 0));
    return fd < 0 ? -errno : fd;
}

int cuio_ftruncate(int fd, off_t length) { return ftruncate(fd, length) == 0 ? 0 : -errno; }

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int cuio_populate_dma_memory(void *address, size_t length) {
    if (madvise(address, length, MADV_POPULATE_WRITE) != 0) {
        if (errno != EINVAL) return -errno;
        // Before Linux 5.14: touch each page. The shared hugetlb mapping reserved its pages at
        // mmap, so the faults find them.
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (size_t offset = 0; offset < length; offset += page) ((volatile char *)address)[offset] = 0;
    }
    return madvise(address, length, MADV_DONTFORK) == 0 ? 0 : -errno;
}
