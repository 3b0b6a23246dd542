// Counts malloc, calloc, realloc and the aligned allocations per thread, for `uio-bench
// allocations`. Load it with LD_PRELOAD; scripts/benchmark.sh builds it:
//   cc -O2 -shared -fPIC -I Sources/CBaselines/include -o allocation_counter.so allocation_counter.c
// It forwards to glibc's own entry points (__libc_malloc, …), so it needs no dlsym, which
// itself allocates.
#define _GNU_SOURCE
#include "allocation_counts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

#define MAX_THREADS 4096
static allocation_counts counts[MAX_THREADS];
static allocation_counts overflow;  // threads beyond MAX_THREADS share it
static int threads_seen;
// initial-exec: reaching it never calls __tls_get_addr, which may allocate.
static __thread allocation_counts *this_thread __attribute__((tls_model("initial-exec")));

static allocation_counts *counts_of_this_thread(void) {
    if (this_thread) return this_thread;
    int index = __atomic_fetch_add(&threads_seen, 1, __ATOMIC_RELAXED);
    allocation_counts *slot = index < MAX_THREADS ? &counts[index] : &overflow;
    slot->tid = (int)syscall(SYS_gettid);
    prctl(PR_GET_NAME, slot->name);  // renamed later, most likely: the snapshot reads it again
    this_thread = slot;
    return slot;
}

#define COUNT(field) __atomic_fetch_add(&counts_of_this_thread()->field, 1, __ATOMIC_RELAXED)

void *malloc(size_t size) { COUNT(malloc_calls); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { COUNT(calloc_calls); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { COUNT(realloc_calls); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { COUNT(aligned_calls); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { COUNT(aligned_calls); return __libc_memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    COUNT(aligned_calls);
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

// The name from /proc, for a thread still running; the last one seen otherwise.
static void refresh_name(allocation_counts *slot) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", slot->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char name[sizeof slot->name] = {0};
    ssize_t length = read(fd, name, sizeof name - 1);
    close(fd);
    if (length <= 0) return;
    if (name[length - 1] == '\n') name[length - 1] = 0;
    memcpy(slot->name, name, sizeof name);
}

size_t allocation_counts_snapshot(allocation_counts *out, size_t capacity) {
    int seen = __atomic_load_n(&threads_seen, __ATOMIC_RELAXED);
    size_t count = (size_t)(seen < MAX_THREADS ? seen : MAX_THREADS);
    if (count > capacity) count = capacity;
    for (size_t i = 0; i < count; i++) {
        refresh_name(&counts[i]);
        out[i] = counts[i];
        out[i].malloc_calls = __atomic_load_n(&counts[i].malloc_calls, __ATOMIC_RELAXED);
        out[i].calloc_calls = __atomic_load_n(&counts[i].calloc_calls, __ATOMIC_RELAXED);
        out[i].realloc_calls = __atomic_load_n(&counts[i].realloc_calls, __ATOMIC_RELAXED);
        out[i].aligned_calls = __atomic_load_n(&counts[i].aligned_calls, __ATOMIC_RELAXED);
    }
    return count;
}
