#define _GNU_SOURCE
#include "interrupt_path.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int interrupt_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    return error == 0 ? 0 : -error;
}

interrupt_probe *interrupt_probe_create(size_t raises, int handler_cpu) {
    interrupt_probe *probe = calloc(1, sizeof *probe);
    probe->raises = raises;
    probe->handler_cpu = handler_cpu;
    probe->raised = calloc(raises, sizeof(uint64_t));
    probe->isr_entered = calloc(raises, sizeof(uint64_t));
    probe->dpc_queued = calloc(raises, sizeof(uint64_t));
    probe->dpc_entered = calloc(raises, sizeof(uint64_t));
    return probe;
}

void interrupt_probe_destroy(interrupt_probe *probe) {
    free(probe->raised);
    free(probe->isr_entered);
    free(probe->dpc_queued);
    free(probe->dpc_entered);
    free(probe);
}

// The first entry of a handler thread pins it and publishes its id (the warm-up raise).
static void first_entry(interrupt_probe *probe, int *tid) {
    if (__atomic_load_n(tid, __ATOMIC_ACQUIRE) != 0) return;
    if (probe->handler_cpu >= 0) interrupt_pin_to_cpu(probe->handler_cpu);
    __atomic_store_n(tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
}

void interrupt_probe_isr_entered(interrupt_probe *probe) {
    uint64_t now = now_ns();
    size_t index = __atomic_load_n(&probe->isr_count, __ATOMIC_RELAXED);
    if (index < probe->raises) probe->isr_entered[index] = now;
    first_entry(probe, &probe->isr_tid);
    __atomic_store_n(&probe->isr_count, index + 1, __ATOMIC_RELEASE);
}

void interrupt_probe_dpc_queued(interrupt_probe *probe) {
    size_t index = __atomic_load_n(&probe->isr_count, __ATOMIC_RELAXED);
    if (index > 0 && index <= probe->raises) probe->dpc_queued[index - 1] = now_ns();
}

void interrupt_probe_dpc_entered(interrupt_probe *probe) {
    uint64_t now = now_ns();
    size_t index = __atomic_load_n(&probe->dpc_count, __ATOMIC_RELAXED);
    if (index < probe->raises) probe->dpc_entered[index] = now;
    first_entry(probe, &probe->dpc_tid);
    __atomic_store_n(&probe->dpc_count, index + 1, __ATOMIC_RELEASE);
}

// ---- the raiser ------------------------------------------------------------------------------

static uint64_t next_random(uint64_t *state) {  // splitmix64
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int open_task_stat(int tid) {
    if (tid == 0) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

// Whether the thread is in state 'S' (asleep in an interruptible wait). No file: nothing to check.
static int is_asleep(int stat_fd) {
    if (stat_fd < 0) return 1;
    char text[512];
    ssize_t length = pread(stat_fd, text, sizeof text - 1, 0);
    if (length <= 0) return 0;
    text[length] = 0;
    const char *end_of_name = strrchr(text, ')');  // the name may hold spaces and parentheses
    return end_of_name != NULL && end_of_name[1] == ' ' && end_of_name[2] == 'S';
}

// voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a thread, or 0 when it cannot be read.
static uint64_t context_switches(int tid) {
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t length = read(fd, text, sizeof text - 1);
    close(fd);
    if (length <= 0) return 0;
    text[length] = 0;
    const char *voluntary = strstr(text, "\nvoluntary_ctxt_switches:");
    const char *involuntary = strstr(text, "\nnonvoluntary_ctxt_switches:");
    if (voluntary == NULL || involuntary == NULL) return 0;
    return strtoull(strchr(voluntary, ':') + 1, NULL, 10) + strtoull(strchr(involuntary, ':') + 1, NULL, 10);
}

static int wait_for_count(const size_t *count, size_t target) {
    uint64_t deadline = now_ns() + 1000000000u;
    while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < target) {
        cpu_relax();
        if (now_ns() > deadline) return -ETIMEDOUT;
    }
    return 0;
}

static void spin_for(uint64_t nanoseconds) {
    uint64_t end = now_ns() + nanoseconds;
    while (now_ns() < end) cpu_relax();
}

int interrupt_raise_all(interrupt_probe *probe, interrupt_pacing pacing, interrupt_raise_fn raise, void *context) {
    interrupt_pin_to_cpu(pacing.raiser_cpu);
    uint64_t random = pacing.seed;
    int isr_stat = -1, dpc_stat = -1, status = 0;
    for (size_t i = 0; i < probe->raises && status == 0; i++) {
        if ((status = wait_for_count(&probe->isr_count, i)) != 0) break;
        if (pacing.expect_dpc && (status = wait_for_count(&probe->dpc_count, i)) != 0) break;
        if (i == 1) {  // the warm-up raise has told the thread ids
            isr_stat = open_task_stat(__atomic_load_n(&probe->isr_tid, __ATOMIC_ACQUIRE));
            if (pacing.expect_dpc) dpc_stat = open_task_stat(__atomic_load_n(&probe->dpc_tid, __ATOMIC_ACQUIRE));
        }
        if (i == 0) {
            spin_for(1000000);  // let the threads reach their waits once
        } else {
            uint64_t give_up = now_ns() + 2000000;
            while (!(is_asleep(isr_stat) && is_asleep(dpc_stat)) && now_ns() < give_up) cpu_relax();
        }
        uint64_t span = pacing.settle_max_ns - pacing.settle_min_ns;
        spin_for(pacing.settle_min_ns + (span ? next_random(&random) % span : 0));
        if (i > 0 && !(is_asleep(isr_stat) && is_asleep(dpc_stat))) probe->raised_before_waiting++;
        if (probe->raises >= 3 && (i == 1 || i == probe->raises - 1)) {
            uint64_t switches = context_switches(__atomic_load_n(&probe->isr_tid, __ATOMIC_ACQUIRE));
            probe->isr_context_switches = i == 1 ? switches : switches - probe->isr_context_switches;
            probe->context_switch_interrupts = probe->raises - 2;
        }
        probe->raised[i] = now_ns();
        raise(context);
    }
    if (status == 0) status = wait_for_count(&probe->isr_count, probe->raises);
    if (status == 0 && pacing.expect_dpc) status = wait_for_count(&probe->dpc_count, probe->raises);
    if (isr_stat >= 0) close(isr_stat);
    if (dpc_stat >= 0) close(dpc_stat);
    return status;
}

// ---- the C baselines -------------------------------------------------------------------------

struct baseline_run {
    interrupt_baseline baseline;
    interrupt_probe *probe;
    int fd, wake_fd;
    pthread_spinlock_t interrupt_lock;
    pthread_mutex_t dpc_mutex;
    pthread_cond_t dpc_condition;
    int dpc_pending;
    int status;
};

static void raise_eventfd(void *context) {
    uint64_t one = 1;
    (void)!write(*(int *)context, &one, sizeof one);
}

// ppoll on the interrupt eventfd and the wake-up eventfd, as swift-uio's wait does.
static int wait_readable(struct baseline_run *run) {
    struct pollfd fds[2] = {{.fd = run->fd, .events = POLLIN}, {.fd = run->wake_fd, .events = POLLIN}};
    int ready;
    do { ready = ppoll(fds, 2, NULL, NULL); } while (ready < 0 && errno == EINTR);
    return ready < 0 ? -errno : 0;
}

static void *isr_thread(void *argument) {
    struct baseline_run *run = argument;
    for (size_t i = 0; i < run->probe->raises; i++) {
        if (run->baseline != INTERRUPT_BASELINE_BLOCKING_READ && (run->status = wait_readable(run)) != 0) return NULL;
        uint64_t value;
        if (read(run->fd, &value, sizeof value) != sizeof value) { run->status = -errno; return NULL; }
        interrupt_probe_isr_entered(run->probe);
        if (run->baseline == INTERRUPT_BASELINE_LOCKED_HANDOFF) {
            pthread_spin_lock(&run->interrupt_lock);
            interrupt_probe_dpc_queued(run->probe);
            pthread_mutex_lock(&run->dpc_mutex);
            run->dpc_pending = 1;
            pthread_cond_signal(&run->dpc_condition);
            pthread_mutex_unlock(&run->dpc_mutex);
            pthread_spin_unlock(&run->interrupt_lock);
        }
    }
    return NULL;
}

static void *dpc_thread(void *argument) {
    struct baseline_run *run = argument;
    for (size_t i = 0; i < run->probe->raises; i++) {
        pthread_mutex_lock(&run->dpc_mutex);
        while (!run->dpc_pending) pthread_cond_wait(&run->dpc_condition, &run->dpc_mutex);
        run->dpc_pending = 0;
        pthread_mutex_unlock(&run->dpc_mutex);
        interrupt_probe_dpc_entered(run->probe);
    }
    return NULL;
}

int interrupt_baseline_run(interrupt_baseline baseline, interrupt_probe *probe, interrupt_pacing pacing) {
    struct baseline_run run = {.baseline = baseline, .probe = probe};
    int blocking = baseline == INTERRUPT_BASELINE_BLOCKING_READ;
    run.fd = eventfd(0, EFD_CLOEXEC | (blocking ? 0 : EFD_NONBLOCK));
    run.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (run.fd < 0 || run.wake_fd < 0) return -errno;
    pthread_spin_init(&run.interrupt_lock, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&run.dpc_mutex, NULL);
    pthread_cond_init(&run.dpc_condition, NULL);
    int with_dpc = baseline == INTERRUPT_BASELINE_LOCKED_HANDOFF;
    pacing.expect_dpc = with_dpc;
    pthread_t isr, dpc;
    pthread_create(&isr, NULL, isr_thread, &run);
    if (with_dpc) pthread_create(&dpc, NULL, dpc_thread, &run);
    int status = interrupt_raise_all(probe, pacing, raise_eventfd, &run.fd);
    if (status != 0) {  // a raise went unhandled: feed the handlers until they have run their count
        while (pthread_tryjoin_np(isr, NULL) == EBUSY) { raise_eventfd(&run.fd); usleep(1000); }
        while (with_dpc && pthread_tryjoin_np(dpc, NULL) == EBUSY) {
            pthread_mutex_lock(&run.dpc_mutex);
            run.dpc_pending = 1;
            pthread_cond_signal(&run.dpc_condition);
            pthread_mutex_unlock(&run.dpc_mutex);
            usleep(1000);
        }
    } else {
        pthread_join(isr, NULL);
        if (with_dpc) pthread_join(dpc, NULL);
    }
    pthread_cond_destroy(&run.dpc_condition);
    pthread_mutex_destroy(&run.dpc_mutex);
    pthread_spin_destroy(&run.interrupt_lock);
    close(run.fd);
    close(run.wake_fd);
    return status != 0 ? status : run.status;
}
