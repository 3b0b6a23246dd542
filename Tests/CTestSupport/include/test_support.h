// What the tests need from C and Swift cannot import.
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H
#include <sys/types.h>
/// Sends `signal` to thread `tid` of this process (tgkill). Returns 0 or -errno.
int test_signal_thread(pid_t tid, int signal);
/// Removes capability `capability` (CAP_SYS_NICE is 23) from the calling thread's effective set;
/// other threads keep theirs. Returns 0 or -errno.
int test_drop_capability_on_this_thread(int capability);
/// Whether the calling thread's effective set has `capability`.
int test_has_capability(int capability);
/// The CPU the calling thread runs on (sched_getcpu, GNU-only).
int test_current_cpu(void);
/// How many CPUs the calling thread may run on (sched_getaffinity, GNU-only).
int test_allowed_cpu_count(void);
/// The number of the `index`th CPU the calling thread may run on (counting from 0), or -1.
int test_allowed_cpu(int index);
/// Sets the process's soft RLIMIT_RTPRIO to `limit`, storing the previous one in `previous`:
/// 0 or -errno.
int test_set_realtime_priority_limit(unsigned long limit, unsigned long *previous);
#endif
