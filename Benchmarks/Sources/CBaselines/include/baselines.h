// Plain-C versions of what swift-uio does, measured in the same run as the Swift code.
#ifndef BASELINES_H
#define BASELINES_H
#include <stddef.h>
#include <stdint.h>

// ---- a one-shot event between threads: mutex + condition variable + flag ---------------------
typedef struct baseline_event baseline_event;
baseline_event *baseline_event_create(void);
void baseline_event_destroy(baseline_event *event);
void baseline_event_signal(baseline_event *event);
void baseline_event_wait(baseline_event *event);  // waits for a signal and consumes it

// ---- MMIO: `count` volatile 32-bit loads at `address` ---------------------------------------
uint32_t baseline_mmio_read_loop(const void *address, size_t count);

// ---- the raw UIO loop the kernel's UIO documentation shows -----------------------------------
// One round: clear INTx Disable in the command register (config fd), raise an interrupt on the
// edu device (write 1 to 0x60), block in read() on the uio fd, take the time, acknowledge (0x64).
// Returns 0 and the nanoseconds from the raise to read() returning, or -errno (-ETIMEDOUT when
// no interrupt came within 2 s).
int baseline_uio_round(int uio_fd, int config_fd, volatile uint32_t *bar, uint64_t *latency_ns);

// The same loop as a handler thread, for a raiser on another CPU: `count` times, block in
// read(), store the time in entered[i], acknowledge, re-arm, then publish i + 1 in *progress.
typedef struct baseline_uio_handler baseline_uio_handler;
baseline_uio_handler *baseline_uio_handler_start(int uio_fd, int config_fd, volatile uint32_t *bar, size_t count,
                                                 uint64_t *entered, uint64_t *progress);
int baseline_uio_handler_join(baseline_uio_handler *handler);  // 0, or -errno of a failed call

// The same loop for the paced raiser of interrupt_path.h: after read() returns it calls
// interrupt_probe_isr_entered (which pins the thread to the probe's handler CPU on the first
// interrupt), then acknowledges and re-arms; probe->raises times. It gives up (-ETIMEDOUT)
// when no interrupt comes for 2 s.
struct interrupt_probe;
typedef struct baseline_uio_probed_handler baseline_uio_probed_handler;
baseline_uio_probed_handler *baseline_uio_probed_handler_start(int uio_fd, int config_fd, volatile uint32_t *bar,
                                                               struct interrupt_probe *probe);
int baseline_uio_probed_handler_join(baseline_uio_probed_handler *handler);  // 0, or -errno

// Raises an interrupt on the edu device whose BAR0 is at `bar` (write 1 to 0x60).
void baseline_edu_raise(void *bar);

// ---- the raw irqcontrol loop: uio_pdrv_genirq with a level interrupt left asserted ----------
// For `duration_ns`: write(1) to irqcontrol (the line re-fires at once), block in read(); counts
// the interrupts handled. `polled` first waits in ppoll() on the uio fd and an eventfd, as
// swift-uio's line does. Returns 0, or -errno.
int baseline_irqcontrol_storm(int uio_fd, int polled, uint64_t duration_ns, uint64_t *interrupts);

// ---- helpers -------------------------------------------------------------------------------
uint64_t baseline_now_ns(void);           // CLOCK_MONOTONIC
int baseline_pin_to_cpu(int cpu);         // the calling thread; threads it makes later inherit it
uint64_t baseline_load_acquire(const uint64_t *value);
#endif
