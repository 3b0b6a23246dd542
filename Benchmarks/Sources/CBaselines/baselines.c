#define _GNU_SOURCE
#include "baselines.h"
#include "interrupt_path.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct baseline_event { pthread_mutex_t mutex; pthread_cond_t condition; int signalled; };

baseline_event *baseline_event_create(void) {
    baseline_event *event = calloc(1, sizeof *event);
    pthread_mutex_init(&event->mutex, NULL);
    pthread_cond_init(&event->condition, NULL);
    return event;
}
void baseline_event_destroy(baseline_event *event) {
    pthread_cond_destroy(&event->condition);
    pthread_mutex_destroy(&event->mutex);
    free(event);
}
void baseline_event_signal(baseline_event *event) {
    pthread_mutex_lock(&event->mutex);
    event->signalled = 1;
    pthread_cond_signal(&event->condition);
    pthread_mutex_unlock(&event->mutex);
}
void baseline_event_wait(baseline_event *event) {
    pthread_mutex_lock(&event->mutex);
    while (!event->signalled) pthread_cond_wait(&event->condition, &event->mutex);
    event->signalled = 0;
    pthread_mutex_unlock(&event->mutex);
}

uint32_t baseline_mmio_read_loop(const void *address, size_t count) {
    uint32_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        sum += *(const volatile uint32_t *)address;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    }
    return sum;
}

uint64_t baseline_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

// Waits up to 2 s for the uio fd to be readable: a lost interrupt ends a run instead of hanging it.
static int wait_for_interrupt(int uio_fd) {
    struct pollfd fd = {.fd = uio_fd, .events = POLLIN};
    int ready;
    do { ready = poll(&fd, 1, 2000); } while (ready < 0 && errno == EINTR);
    return ready < 0 ? -errno : ready == 0 ? -ETIMEDOUT : 0;
}

int baseline_uio_round(int uio_fd, int config_fd, volatile uint32_t *bar, uint64_t *latency_ns) {
    uint16_t command;
    if (pread(config_fd, &command, 2, 4) != 2) return -errno;
    command &= (uint16_t)~0x400;
    if (pwrite(config_fd, &command, 2, 4) != 2) return -errno;
    uint64_t start = baseline_now_ns();
    bar[0x60 / 4] = 1;
    int status = wait_for_interrupt(uio_fd);
    if (status != 0) return status;
    uint32_t count;
    if (read(uio_fd, &count, 4) != 4) return -errno;
    *latency_ns = baseline_now_ns() - start;
    bar[0x64 / 4] = bar[0x24 / 4];
    return 0;
}

struct baseline_uio_handler {
    pthread_t thread;
    int uio_fd, config_fd, status;
    volatile uint32_t *bar;
    size_t count;
    uint64_t *entered, *progress;
};

static int rearm_intx(int config_fd) {
    uint16_t command;
    if (pread(config_fd, &command, 2, 4) != 2) return -errno;
    command &= (uint16_t)~0x400;
    return pwrite(config_fd, &command, 2, 4) == 2 ? 0 : -errno;
}

static void *uio_handler_loop(void *argument) {
    struct baseline_uio_handler *h = argument;
    if ((h->status = rearm_intx(h->config_fd)) != 0) return NULL;
    __atomic_store_n(h->progress, 0, __ATOMIC_RELEASE);
    for (size_t i = 0; i < h->count; i++) {
        uint32_t count;
        if (read(h->uio_fd, &count, 4) != 4) { h->status = -errno; return NULL; }
        h->entered[i] = baseline_now_ns();
        h->bar[0x64 / 4] = h->bar[0x24 / 4];
        if ((h->status = rearm_intx(h->config_fd)) != 0) return NULL;
        __atomic_store_n(h->progress, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

baseline_uio_handler *baseline_uio_handler_start(int uio_fd, int config_fd, volatile uint32_t *bar, size_t count,
                                                 uint64_t *entered, uint64_t *progress) {
    baseline_uio_handler *h = calloc(1, sizeof *h);
    *h = (baseline_uio_handler){.uio_fd = uio_fd, .config_fd = config_fd, .bar = bar, .count = count,
                                .entered = entered, .progress = progress};
    *progress = UINT64_MAX;  // not ready until the first re-arm
    pthread_create(&h->thread, NULL, uio_handler_loop, h);
    return h;
}

int baseline_uio_handler_join(baseline_uio_handler *h) {
    pthread_join(h->thread, NULL);
    int status = h->status;
    free(h);
    return status;
}

struct baseline_uio_probed_handler {
    pthread_t thread;
    int uio_fd, config_fd, status;
    volatile uint32_t *bar;
    interrupt_probe *probe;
};

static void *uio_probed_handler_loop(void *argument) {
    struct baseline_uio_probed_handler *h = argument;
    if ((h->status = rearm_intx(h->config_fd)) != 0) return NULL;
    for (size_t i = 0; i < h->probe->raises; i++) {
        uint32_t count;
        if ((h->status = wait_for_interrupt(h->uio_fd)) != 0) return NULL;
        if (read(h->uio_fd, &count, 4) != 4) { h->status = -errno; return NULL; }
        interrupt_probe_isr_entered(h->probe);
        h->bar[0x64 / 4] = h->bar[0x24 / 4];
        if ((h->status = rearm_intx(h->config_fd)) != 0) return NULL;
    }
    return NULL;
}

baseline_uio_probed_handler *baseline_uio_probed_handler_start(int uio_fd, int config_fd, volatile uint32_t *bar,
                                                               interrupt_probe *probe) {
    baseline_uio_probed_handler *h = calloc(1, sizeof *h);
    *h = (baseline_uio_probed_handler){.uio_fd = uio_fd, .config_fd = config_fd, .bar = bar, .probe = probe};
    pthread_create(&h->thread, NULL, uio_probed_handler_loop, h);
    return h;
}

int baseline_uio_probed_handler_join(baseline_uio_probed_handler *h) {
    pthread_join(h->thread, NULL);
    int status = h->status;
    free(h);
    return status;
}

void baseline_edu_raise(void *bar) { ((volatile uint32_t *)bar)[0x60 / 4] = 1; }

uint64_t baseline_load_acquire(const uint64_t *value) { return __atomic_load_n(value, __ATOMIC_ACQUIRE); }

int baseline_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 ? 0 : -errno;
}

// ---- the raw irqcontrol loop on a level interrupt left asserted ------------------------------

static int irqcontrol_storm(int uio_fd, int wake_fd, uint64_t duration_ns, uint64_t *interrupts) {
    const uint32_t enable = 1;
    uint32_t count = 0;
    uint64_t handled = 0;
    struct pollfd fds[2] = {{.fd = uio_fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    const uint64_t end = baseline_now_ns() + duration_ns;
    while (baseline_now_ns() < end) {
        if (write(uio_fd, &enable, sizeof enable) != (ssize_t)sizeof enable) return -errno;
        if (wake_fd >= 0) {
            int ready;
            do { ready = ppoll(fds, 2, NULL, NULL); } while (ready < 0 && errno == EINTR);
            if (ready < 0) return -errno;
        }
        ssize_t got;
        do { got = read(uio_fd, &count, sizeof count); } while (got < 0 && errno == EINTR);
        if (got != (ssize_t)sizeof count) return got < 0 ? -errno : -EIO;
        handled++;
    }
    *interrupts = handled;
    return 0;
}

int baseline_irqcontrol_storm(int uio_fd, int polled, uint64_t duration_ns, uint64_t *interrupts) {
    int wake_fd = polled ? eventfd(0, EFD_CLOEXEC) : -1;
    if (polled && wake_fd < 0) return -errno;
    int status = irqcontrol_storm(uio_fd, wake_fd, duration_ns, interrupts);
    if (wake_fd >= 0) close(wake_fd);
    return status;
}
