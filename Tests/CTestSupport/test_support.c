#define _GNU_SOURCE
#include "test_support.h"
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int test_signal_thread(pid_t tid, int signal) {
    return syscall(SYS_tgkill, getpid(), tid, signal) == 0 ? 0 : -errno;
}

int test_drop_capability_on_this_thread(int capability) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -errno;
    data[capability / 32].effective &= ~(1u << (capability % 32));
    if (syscall(SYS_capset, &header, data) != 0) return -errno;
    return 0;
}

int test_has_capability(int capability) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return 0;
    return (data[capability / 32].effective >> (capability % 32)) & 1;
}

int test_current_cpu(void) { return sched_getcpu(); }

int test_allowed_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    return CPU_COUNT(&set);
}

int test_allowed_cpu(int index) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set) && index-- == 0) return cpu;
    }
    return -1;
}

int test_set_realtime_priority_limit(unsigned long limit, unsigned long *previous) {
    struct rlimit value;
    if (getrlimit(RLIMIT_RTPRIO, &value) != 0) return -errno;
    *previous = (unsigned long)value.rlim_cur;
    value.rlim_cur = (rlim_t)limit;
    if (setrlimit(RLIMIT_RTPRIO, &value) != 0) return -errno;
    return 0;
}
