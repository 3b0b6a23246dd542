#define _GNU_SOURCE
#include "dpc_lock_wait.h"
#include "interrupt_path.h"
#include "locks.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

// ---- the hogs --------------------------------------------------------------------------------

struct cpu_hog { pthread_t thread; int cpu; int *stopping; };
struct cpu_hogs { int count; int stopping; struct cpu_hog hog[]; };

static void *hog_loop(void *argument) {
    struct cpu_hog *hog = argument;
    interrupt_pin_to_cpu(hog->cpu);
    while (!__atomic_load_n(hog->stopping, __ATOMIC_RELAXED)) lock_work(1000);
    return NULL;
}

static cpu_hogs *hogs_start(int first_cpu, int count) {
    cpu_hogs *hogs = calloc(1, sizeof *hogs + (size_t)count * sizeof(struct cpu_hog));
    hogs->count = count;
    for (int index = 0; index < count; index++) {
        hogs->hog[index] = (struct cpu_hog){.cpu = first_cpu + index, .stopping = &hogs->stopping};
        pthread_create(&hogs->hog[index].thread, NULL, hog_loop, &hogs->hog[index]);
    }
    return hogs;
}

cpu_hogs *cpu_hogs_start(int cpus) { return hogs_start(0, cpus); }

cpu_hogs *cpu_hog_start_on(int cpu) { return hogs_start(cpu, 1); }

void cpu_hogs_stop(cpu_hogs *hogs) {
    __atomic_store_n(&hogs->stopping, 1, __ATOMIC_RELAXED);
    for (int cpu = 0; cpu < hogs->count; cpu++) pthread_join(hogs->hog[cpu].thread, NULL);
    free(hogs);
}

// ---- the raiser ------------------------------------------------------------------------------

void paced_raise_all(size_t raises, uint64_t pace_ns, int raiser_cpu, paced_raise_fn raise, void *context) {
    interrupt_pin_to_cpu(raiser_cpu);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (size_t i = 0; i < raises; i++) {
        uint64_t nanoseconds = (uint64_t)next.tv_nsec + pace_ns;
        next.tv_sec += (time_t)(nanoseconds / 1000000000u);
        next.tv_nsec = (long)(nanoseconds % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
        raise(context);
    }
}

// ---- the C baseline (c) ----------------------------------------------------------------------

struct lock_wait_run {
    int fd, wake_fd, handler_cpu, stopping;
    uint32_t hold_units;
    pthread_spinlock_t interrupt_lock;
    pthread_mutex_t dpc_mutex;
    pthread_cond_t dpc_condition;
    int dpc_pending;
    uint64_t *wait_ns;
    size_t capacity, waits, interrupts;
};

static void raise_eventfd(void *context) {
    uint64_t one = 1;
    (void)!write(*(int *)context, &one, sizeof one);
}

static void *lock_wait_isr(void *argument) {
    struct lock_wait_run *run = argument;
    interrupt_pin_to_cpu(run->handler_cpu);
    struct pollfd fds[2] = {{.fd = run->fd, .events = POLLIN}, {.fd = run->wake_fd, .events = POLLIN}};
    for (;;) {
        if (ppoll(fds, 2, NULL, NULL) < 0 && errno != EINTR) return NULL;
        uint64_t value;
        if (read(run->fd, &value, sizeof value) != sizeof value) {
            if (__atomic_load_n(&run->stopping, __ATOMIC_ACQUIRE)) return NULL;
            continue;  // woken without an interrupt
        }
        __atomic_add_fetch(&run->interrupts, value, __ATOMIC_RELEASE);
        pthread_spin_lock(&run->interrupt_lock);
        pthread_mutex_lock(&run->dpc_mutex);
        run->dpc_pending = 1;
        pthread_cond_signal(&run->dpc_condition);
        pthread_mutex_unlock(&run->dpc_mutex);
        lock_work(run->hold_units);
        pthread_spin_unlock(&run->interrupt_lock);
    }
}

static void *lock_wait_dpc(void *argument) {
    struct lock_wait_run *run = argument;
    interrupt_pin_to_cpu(run->handler_cpu);
    for (;;) {
        pthread_mutex_lock(&run->dpc_mutex);
        while (!run->dpc_pending && !run->stopping) pthread_cond_wait(&run->dpc_condition, &run->dpc_mutex);
        int pending = run->dpc_pending;
        run->dpc_pending = 0;
        pthread_mutex_unlock(&run->dpc_mutex);
        if (!pending) return NULL;
        uint64_t asked = lock_now_ns();
        pthread_spin_lock(&run->interrupt_lock);
        uint64_t got = lock_now_ns();
        pthread_spin_unlock(&run->interrupt_lock);
        if (run->waits < run->capacity) run->wait_ns[run->waits++] = got - asked;
    }
}

long dpc_lock_wait_baseline(size_t raises, uint64_t pace_ns, int raiser_cpu, int handler_cpu, uint32_t hold_units,
                            uint64_t *wait_ns) {
    struct lock_wait_run run = {.handler_cpu = handler_cpu, .hold_units = hold_units, .wait_ns = wait_ns, .capacity = raises};
    run.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    run.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (run.fd < 0 || run.wake_fd < 0) return -errno;
    pthread_spin_init(&run.interrupt_lock, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&run.dpc_mutex, NULL);
    pthread_cond_init(&run.dpc_condition, NULL);
    pthread_t isr, dpc;
    pthread_create(&isr, NULL, lock_wait_isr, &run);
    pthread_create(&dpc, NULL, lock_wait_dpc, &run);
    paced_raise_all(raises, pace_ns, raiser_cpu, raise_eventfd, &run.fd);
    // Let the last interrupts through (a second at most), then stop both threads.
    uint64_t give_up = lock_now_ns() + 1000000000u;
    while (__atomic_load_n(&run.interrupts, __ATOMIC_ACQUIRE) < raises && lock_now_ns() < give_up) usleep(1000);
    usleep(10000);
    __atomic_store_n(&run.stopping, 1, __ATOMIC_RELEASE);
    raise_eventfd(&run.wake_fd);
    pthread_join(isr, NULL);
    pthread_mutex_lock(&run.dpc_mutex);
    pthread_cond_signal(&run.dpc_condition);
    pthread_mutex_unlock(&run.dpc_mutex);
    pthread_join(dpc, NULL);
    pthread_cond_destroy(&run.dpc_condition);
    pthread_mutex_destroy(&run.dpc_mutex);
    pthread_spin_destroy(&run.interrupt_lock);
    close(run.fd);
    close(run.wake_fd);
    return (long)run.waits;
}
