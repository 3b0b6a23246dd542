// Lock loops for the lock benchmarks: the algorithm baseline (a ticket lock, inline here so no
// call stands around it), pthread_spin_lock and pthread_mutex, timed in C; and the pieces the
// Swift loops share with them (the work done under the lock, the two pinned threads).
#ifndef LOCKS_H
#define LOCKS_H
#include <stddef.h>
#include <stdint.h>

// ---- the ticket lock, inline ------------------------------------------------------------------
typedef struct ticket_lock { uint32_t next; uint32_t serving; } ticket_lock;

static inline void ticket_lock_acquire(ticket_lock *lock) {
    uint32_t ticket = __atomic_fetch_add(&lock->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE) != ticket) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    }
}

static inline void ticket_lock_release(ticket_lock *lock) {
    __atomic_store_n(&lock->serving, __atomic_load_n(&lock->serving, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

// ---- the C loops ----------------------------------------------------------------------------
typedef enum lock_kind { LOCK_TICKET_INLINE, LOCK_PTHREAD_SPIN, LOCK_PTHREAD_MUTEX } lock_kind;

// Nanoseconds for `iterations` acquire+release pairs on one thread, nobody else touching the lock.
uint64_t lock_uncontended_ns(lock_kind kind, size_t iterations);

// Two threads (CPUs 0 and 1), each `iterations` times: take the time, acquire, take the time,
// do `hold_units` of work, release, do gap_units[thread * iterations + i] of work.
// wait_ns[thread * iterations + i] is the second time minus the first. Returns the wall-clock
// nanoseconds of the whole run.
uint64_t lock_contended(lock_kind kind, size_t iterations, uint32_t hold_units, const uint32_t *gap_units, uint64_t *wait_ns);

// Gaps drawn uniformly from 0...max_units by a generator seeded with `seed`: random arrivals, so
// the two threads do not fall into one lockstep that decides every wait.
void lock_fill_gaps(uint32_t *gap_units, size_t count, uint32_t max_units, uint64_t seed);

// ---- shared with the Swift loops --------------------------------------------------------------
uint64_t lock_now_ns(void);            // CLOCK_MONOTONIC, the clock of every lock figure
void lock_work(uint32_t units);        // a dependent chain of arithmetic, not inlined
uint32_t lock_work_units_for(uint64_t nanoseconds);  // calibrated on this machine

// Runs body(context, 0) on a thread pinned to CPU 0 and body(context, 1) on one pinned to CPU 1,
// released together; returns the wall-clock nanoseconds until both returned.
typedef void (*lock_thread_body)(void *context, int thread);
uint64_t lock_run_pinned_pair(lock_thread_body body, void *context);
#endif
