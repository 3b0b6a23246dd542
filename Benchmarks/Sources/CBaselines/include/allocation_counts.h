// What the allocation counter (AllocationCounter/allocation_counter.c, loaded with LD_PRELOAD)
// counted on one thread. uio-bench finds its snapshot function with dlsym, so the counter stays
// out of every build of the project.
#ifndef ALLOCATION_COUNTS_H
#define ALLOCATION_COUNTS_H
#include <stddef.h>
#include <stdint.h>

typedef struct allocation_counts {
    int tid;
    char name[16];  // the thread's name when the snapshot was taken (or last seen)
    uint64_t malloc_calls, calloc_calls, realloc_calls, aligned_calls;  // aligned: posix_memalign, aligned_alloc, memalign
} allocation_counts;

// The counter's entry point: copies up to `capacity` threads' counts (every thread that has
// allocated since the process started) and returns how many it copied.
typedef size_t (*allocation_counts_snapshot_fn)(allocation_counts *out, size_t capacity);
#define ALLOCATION_COUNTS_SNAPSHOT "allocation_counts_snapshot"
#endif
