// What the tests need from C and Swift cannot import.
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H
#include <sys/types.h>
/// Sends `signal` to thread `tid` of this process (tgkill). Returns 0 or -errno.
int test_signal_thread(pid_t tid, int signal);
#endif
