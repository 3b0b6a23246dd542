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

// The three C locks; a loop uses one.
struct c_locks {
    ticket_lock ticket;
    pthread_spinlock_t spin;
    pthread_mutex_t mutex;
};

static void c_locks_init(struct c_locks *lock) {
    *lock = (struct c_locks){0};
    pthread_spin_init(&lock->spin, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&lock->mutex, NULL);
}

static void c_locks_destroy(struct c_locks *lock) {
    pthread_spin_destroy(&lock->spin);
    pthread_mutex_destroy(&lock->mutex);
}

// One loop per kind, so the calls inside are direct (and the ticket lock's inlined).
static uint64_t uncontended_ticket(struct c_locks *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { ticket_lock_acquire(&lock->ticket); ticket_lock_release(&lock->ticket); }
    return lock_now_ns() - start;
}

static uint64_t uncontended_spin(struct c_locks *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { pthread_spin_lock(&lock->spin); pthread_spin_unlock(&lock->spin); }
    return lock_now_ns() - start;
}

static uint64_t uncontended_mutex(struct c_locks *lock, size_t iterations) {
    uint64_t start = lock_now_ns();
    for (size_t i = 0; i < iterations; i++) { pthread_mutex_lock(&lock->mutex); pthread_mutex_unlock(&lock->mutex); }
    return lock_now_ns() - start;
}

uint64_t lock_uncontended_ns(lock_kind kind, size_t iterations) {
    struct c_locks lock;
    c_locks_init(&lock);
    uint64_t took = kind == LOCK_TICKET_INLINE ? uncontended_ticket(&lock, iterations)
                  : kind == LOCK_PTHREAD_SPIN ? uncontended_spin(&lock, iterations)
                  : uncontended_mutex(&lock, iterations);
    c_locks_destroy(&lock);
    return took;
}

struct contended_run {
    struct c_locks lock;
    size_t iterations;
    uint32_t hold_units;
    const uint32_t *gap_units;
    uint64_t *wait_ns;
};

// One body per kind, like the uncontended loops: the calls inside are direct.
#define CONTENDED_BODY(name, acquire, release)                                        \
    static void name(void *context, int thread) {                                     \
        struct contended_run *run = context;                                          \
        uint64_t *waits = run->wait_ns + (size_t)thread * run->iterations;            \
        const uint32_t *gaps = run->gap_units + (size_t)thread * run->iterations;     \
        for (size_t i = 0; i < run->iterations; i++) {                                \
            uint64_t asked = lock_now_ns();                                           \
            acquire;                                                                  \
            waits[i] = lock_now_ns() - asked;                                         \
            lock_work(run->hold_units);                                               \
            release;                                                                  \
            lock_work(gaps[i]);                                                       \
        }                                                                             \
    }

CONTENDED_BODY(contended_ticket, ticket_lock_acquire(&run->lock.ticket), ticket_lock_release(&run->lock.ticket))
CONTENDED_BODY(contended_spin, pthread_spin_lock(&run->lock.spin), pthread_spin_unlock(&run->lock.spin))
CONTENDED_BODY(contended_mutex, pthread_mutex_lock(&run->lock.mutex), pthread_mutex_unlock(&run->lock.mutex))

void lock_fill_gaps(uint32_t *gap_units, size_t count, uint32_t max_units, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < count; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15u);  // splitmix64
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        gap_units[i] = (uint32_t)((z ^ (z >> 31)) % ((uint64_t)max_units + 1));
    }
}

uint64_t lock_contended(lock_kind kind, size_t iterations, uint32_t hold_units, const uint32_t *gap_units, uint64_t *wait_ns) {
    struct contended_run run = {.iterations = iterations, .hold_units = hold_units, .gap_units = gap_units, .wait_ns = wait_ns};
    c_locks_init(&run.lock);
    lock_thread_body body = kind == LOCK_TICKET_INLINE ? contended_ticket : kind == LOCK_PTHREAD_SPIN ? contended_spin : contended_mutex;
    uint64_t took = lock_run_pinned_pair(body, &run);
    c_locks_destroy(&run.lock);
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
