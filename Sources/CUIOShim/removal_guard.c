// The SIGBUS guard of device mappings (see cuio.h).
#include "cuio.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define GUARDED_MAPPINGS 256

// A slot is free while its start is 0. Each slot has a sequence number, odd while the slot is
// being written, so the handler never pairs one mapping's start with another's length.
static _Atomic(unsigned) guarded_sequence[GUARDED_MAPPINGS];
static _Atomic(uintptr_t) guarded_start[GUARDED_MAPPINGS];
static _Atomic(size_t) guarded_length[GUARDED_MAPPINGS];

static void write_slot(int i, uintptr_t start, size_t length) {
    atomic_fetch_add_explicit(&guarded_sequence[i], 1, memory_order_acq_rel);
    atomic_store_explicit(&guarded_length[i], length, memory_order_release);
    atomic_store_explicit(&guarded_start[i], start, memory_order_release);
    atomic_fetch_add_explicit(&guarded_sequence[i], 1, memory_order_acq_rel);
}
static struct sigaction previous_action;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static pthread_mutex_t slots = PTHREAD_MUTEX_INITIALIZER;

int cuio_retire_mapping(void *start, size_t length) {
    void *replaced = mmap(start, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (replaced == MAP_FAILED) return -errno;
    memset(replaced, 0xff, length);
    return 0;
}

static void on_sigbus(int signal, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < GUARDED_MAPPINGS; i++) {
        unsigned before = atomic_load_explicit(&guarded_sequence[i], memory_order_acquire);
        uintptr_t start = atomic_load_explicit(&guarded_start[i], memory_order_acquire);
        size_t length = atomic_load_explicit(&guarded_length[i], memory_order_acquire);
        unsigned after = atomic_load_explicit(&guarded_sequence[i], memory_order_acquire);
        if (before != after || (before & 1)) continue;  // being rewritten: not the faulting mapping's
        if (start != 0 && address - start < length) {
            // Returning runs the access again, now on anonymous memory.
            if (cuio_retire_mapping((void *)start, length) == 0) return;
            break;
        }
    }
    // Not a guarded mapping: whatever was there before decides, when the access faults again.
    sigaction(SIGBUS, &previous_action, NULL);
    (void)signal;
    (void)context;
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_action);
}

int cuio_guard_mapping(void *start, size_t length) {
    pthread_once(&installed, install);
    pthread_mutex_lock(&slots);
    for (int i = 0; i < GUARDED_MAPPINGS; i++) {
        if (atomic_load_explicit(&guarded_start[i], memory_order_relaxed) == 0) {
            write_slot(i, (uintptr_t)start, length);
            pthread_mutex_unlock(&slots);
            return 0;
        }
    }
    pthread_mutex_unlock(&slots);
    return -ENOSPC;
}

void cuio_unguard_mapping(void *start) {
    pthread_mutex_lock(&slots);
    for (int i = 0; i < GUARDED_MAPPINGS; i++) {
        if (atomic_load_explicit(&guarded_start[i], memory_order_relaxed) == (uintptr_t)start) {
            write_slot(i, 0, 0);
        }
    }
    pthread_mutex_unlock(&slots);
}
