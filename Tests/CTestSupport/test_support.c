#define _GNU_SOURCE
#include "test_support.h"
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int test_signal_thread(pid_t tid, int signal) {
    return syscall(SYS_tgkill, getpid(), tid, signal) == 0 ? 0 : -errno;
}
