// The interrupt path on the host, with an eventfd as the interrupt: a raiser on one CPU fires it
// only while the handler threads sleep in their waits, and the handlers take the time on entry.
// The raiser and the clock are the same C code for swift-uio and for the C baselines.
#ifndef INTERRUPT_PATH_H
#define INTERRUPT_PATH_H
#include <stddef.h>
#include <stdint.h>

// What one run records. Index 0 is the warm-up raise (it pins the handlers and learns their
// thread ids); the figures use 1..<raises. Times are CLOCK_MONOTONIC nanoseconds.
typedef struct interrupt_probe {
    size_t raises;
    int handler_cpu;
    uint64_t *raised;       // just before the eventfd write
    uint64_t *isr_entered;  // top of the ISR (C: right after read() returns)
    uint64_t *dpc_queued;   // just before the ISR queues the DPC
    uint64_t *dpc_entered;  // top of the DPC
    size_t isr_count, dpc_count;  // entries so far (atomic)
    int isr_tid, dpc_tid;         // the handler threads, learnt on the warm-up raise (atomic)
    size_t raised_before_waiting; // raises made while a handler thread was not asleep
    // The ISR thread's context switches (voluntary + involuntary, from /proc) over
    // context_switch_interrupts interrupts: raises 1 to raises - 2, read just before each end's raise.
    uint64_t isr_context_switches;
    size_t context_switch_interrupts;
} interrupt_probe;

interrupt_probe *interrupt_probe_create(size_t raises, int handler_cpu);
void interrupt_probe_destroy(interrupt_probe *probe);

// Called by the handlers. The first call of each pins its thread to handler_cpu (unless it is
// negative: the handler placed itself).
void interrupt_probe_isr_entered(interrupt_probe *probe);
void interrupt_probe_dpc_queued(interrupt_probe *probe);
void interrupt_probe_dpc_entered(interrupt_probe *probe);

// How the raiser paces itself. Before each raise it waits until the last one was handled and
// every handler thread is in state 'S' in /proc, then spins a random settle time drawn from a
// generator seeded with `seed`, then checks the state again (counting a raise made while a
// handler was not asleep), takes the time and raises.
typedef struct interrupt_pacing {
    uint64_t seed;
    uint64_t settle_min_ns, settle_max_ns;
    int raiser_cpu;
    int expect_dpc;
} interrupt_pacing;

typedef void (*interrupt_raise_fn)(void *context);

// Pins the calling thread to raiser_cpu and makes probe->raises raises. 0, or -ETIMEDOUT when a
// raise went unhandled for a second.
int interrupt_raise_all(interrupt_probe *probe, interrupt_pacing pacing, interrupt_raise_fn raise, void *context);

// The C baselines, each one whole run (eventfds, threads, raiser) in C.
typedef enum interrupt_baseline {
    INTERRUPT_BASELINE_BLOCKING_READ,   // (a) a thread blocked in read() on the eventfd
    INTERRUPT_BASELINE_PPOLL_READ,      // (b) ppoll on it and a wake-up eventfd, then read()
    INTERRUPT_BASELINE_LOCKED_HANDOFF,  // (c) (b), a spin lock around the handler, a mutex and
                                        //     condition-variable hand-off to a DPC thread
} interrupt_baseline;

int interrupt_baseline_run(interrupt_baseline baseline, interrupt_probe *probe, interrupt_pacing pacing);

int interrupt_pin_to_cpu(int cpu);  // the calling thread; 0 or -errno
#endif
