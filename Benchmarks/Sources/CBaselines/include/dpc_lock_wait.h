// The DPC's wait for the interrupt lock while CPU hogs run: busy threads, one per CPU; a raiser
// at a fixed pace; and the C baseline (c) of the interrupt path (an eventfd, a spin lock around
// the ISR's work, a condition-variable hand-off to a DPC thread that then takes the spin lock).
#ifndef DPC_LOCK_WAIT_H
#define DPC_LOCK_WAIT_H
#include <stddef.h>
#include <stdint.h>

// One busy loop per CPU 0..<cpus, each pinned to its CPU, normal policy and priority.
typedef struct cpu_hogs cpu_hogs;
cpu_hogs *cpu_hogs_start(int cpus);
cpu_hogs *cpu_hog_start_on(int cpu);  // one busy thread, on that CPU
void cpu_hogs_stop(cpu_hogs *hogs);  // stops and joins them

// Pins the calling thread to raiser_cpu and raises `raises` times, one every pace_ns on absolute
// deadlines: the raiser sleeps between raises, and a late raise does not shift the next ones.
typedef void (*paced_raise_fn)(void *context);
void paced_raise_all(size_t raises, uint64_t pace_ns, int raiser_cpu, paced_raise_fn raise, void *context);

// The C baseline (c), whole: an ISR thread (ppoll + read on an eventfd) that takes a
// pthread_spin_lock, signals the DPC thread, does hold_units of work and releases; a DPC thread
// that wakes on the condition variable, then times pthread_spin_lock. Both pinned to
// handler_cpu; the calling thread raises (paced_raise_all). wait_ns gets one wait per DPC run
// (at most `raises`: raises that arrive together run one DPC). The number of waits, or -errno.
long dpc_lock_wait_baseline(size_t raises, uint64_t pace_ns, int raiser_cpu, int handler_cpu, uint32_t hold_units,
                            uint64_t *wait_ns);
#endif
