#define _GNU_SOURCE
#include "locks.h"
#include "interrupt_path.h"

#include <pthread.h>
#include <time.h>

uint64_t lock_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

__attribute__((noinline)) void lock_work(uint32_t units) {
    volatile uint64_t sink;
    uint64_t x = units;
    for (uint32_t i = 0; i < units; i++) x = x * 6364136223846793005u + 1442695040888963407u;
    sink = x;
    (void)sink;
}

uint32_t lock_work_units_for(uint64_t nanoseconds) {
    const uint32_t probe = 1000000;
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {  // the fastest of five: the least disturbed
        uint64_t start = lock_now_ns();
        lock_work(probe);
        uint64_t took = lock_now_ns() - start;
        if (took < best) best = took;
    }
    uint64_t units = nanoseconds * probe / (best ? best : 1);
    return units ? (uint32_t)units : 1;
}

// One of the three locks, behind one switch so every loop has the same shape.
struct any_lock {
    lock_kind kind;
    ticket_lock ticket;
    pthread_spinlock_t spin;
    pthread_mutex_t mutex;
};

static void any_lock_init(struct any_lock *lock, lock_kind kind) {
    *lock = (struct any_lock){.kind = kind};
    pthread_spin_init(&lock->spin, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&lock->mutex, NULL);
}

static void any_lock_destroy(struct any_lock *lock) {
    pthread_spin_destroy(&lock->spin);
    pthread_mutex_destroy(&lock->mutex);
}

// One loop per kind, so the calls inside are direct (and the ticket lock's inlined).
static uint64_t uncontended_ticket(struct any_lock *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { ticket_lock_acquire(&lock->ticket); ticket_lock_release(&lock->ticket); }
    return lock_now_ns() - start;
}

static uint64_t uncontended_spin(struct any_lock *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { pthread_spin_lock(&lock->spin); pthread_spin_unlock(&lock->spin); }
    return lock_now_ns() - start;
}

static uint64_t uncontended_mutex(struct any_lock *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { pthread_mutex_lock(&lock->mutex); pthread_mutex_unlock(&lock->mutex); }
    return lock_now_ns() - start;
}

uint64_t lock_uncontended_ns(lock_kind kind, size_t iterations) {
    struct any_lock lock;
    any_lock_init(&lock, kind);
    uint64_t took = kind == LOCK_TICKET_INLINE ? uncontended_ticket(&lock, iterations)
                  : kind == LOCK_PTHREAD_SPIN ? uncontended_spin(&lock, iterations)
                  : uncontended_mutex(&lock, iterations);
    any_lock_destroy(&lock);
    return took;
}

static void any_lock_acquire(struct any_lock *lock) {
    switch (lock->kind) {
    case LOCK_TICKET_INLINE: ticket_lock_acquire(&lock->ticket); break;
    case LOCK_PTHREAD_SPIN: pthread_spin_lock(&lock->spin); break;
    case LOCK_PTHREAD_MUTEX: pthread_mutex_lock(&lock->mutex); break;
    }
}

static void any_lock_release(struct any_lock *lock) {
    switch (lock->kind) {
    case LOCK_TICKET_INLINE: ticket_lock_release(&lock->ticket); break;
    case LOCK_PTHREAD_SPIN: pthread_spin_unlock(&lock->spin); break;
    case LOCK_PTHREAD_MUTEX: pthread_mutex_unlock(&lock->mutex); break;
    }
}

struct contended_run {
    struct any_lock lock;
    size_t iterations;
    uint32_t hold_units, gap_units;
    uint64_t *wait_ns;
};

static void contended_body(void *context, int thread) {
    struct contended_run *run = context;
    uint64_t *waits = run->wait_ns + (size_t)thread * run->iterations;
    for (size_t i = 0; i < run->iterations; i++) {
        uint64_t asked = lock_now_ns();
        any_lock_acquire(&run->lock);
        waits[i] = lock_now_ns() - asked;
        lock_work(run->hold_units);
        any_lock_release(&run->lock);
        lock_work(run->gap_units);
    }
}

uint64_t lock_contended(lock_kind kind, size_t iterations, uint32_t hold_units, uint32_t gap_units, uint64_t *wait_ns) {
    struct contended_run run = {.iterations = iterations, .hold_units = hold_units, .gap_units = gap_units, .wait_ns = wait_ns};
    any_lock_init(&run.lock, kind);
    uint64_t took = lock_run_pinned_pair(contended_body, &run);
    any_lock_destroy(&run.lock);
    return took;
}

// ---- two pinned threads, released together ----------------------------------------------------

struct pinned_pair {
    lock_thread_body body;
    void *context;
    pthread_barrier_t start;
};

struct pinned_thread { struct pinned_pair *pair; int index; };

static void *pinned_thread_main(void *argument) {
    struct pinned_thread *thread = argument;
    interrupt_pin_to_cpu(thread->index);
    pthread_barrier_wait(&thread->pair->start);
    thread->pair->body(thread->pair->context, thread->index);
    return NULL;
}

uint64_t lock_run_pinned_pair(lock_thread_body body, void *context) {
    struct pinned_pair pair = {.body = body, .context = context};
    pthread_barrier_init(&pair.start, NULL, 3);
    struct pinned_thread threads[2] = {{&pair, 0}, {&pair, 1}};
    pthread_t ids[2];
    for (int i = 0; i < 2; i++) pthread_create(&ids[i], NULL, pinned_thread_main, &threads[i]);
    pthread_barrier_wait(&pair.start);
    uint64_t start = lock_now_ns();
    for (int i = 0; i < 2; i++) pthread_join(ids[i], NULL);
    uint64_t took = lock_now_ns() - start;
    pthread_barrier_destroy(&pair.start);
    return took;
}
