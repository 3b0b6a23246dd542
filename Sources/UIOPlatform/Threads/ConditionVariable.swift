#if canImport(Glibc)
import Glibc
#endif

/// A mutex and a condition variable, allocated once: how worker threads sleep and are woken
/// without allocating on the way.
package final class ConditionVariable: @unchecked Sendable {
    // @unchecked: the pthread objects are reached only through pointers made in init and
    // freed in deinit, when no thread can be using them.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    @inline(__always)
    package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        OperationCounts.countLockAcquisition()
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Sleeps until woken; the mutex must be held, and is held again on return.
    @inline(__always)
    package func wait() {
        pthread_cond_wait(condition, mutex)
        OperationCounts.countLockAcquisition()
    }

    /// Sleeps until woken or `timeout` passes; `false` when it passed. The mutex must be held.
    /// A timeout too long to count (`longestWait`) waits until woken.
    package func wait(timeout: Duration) -> Bool {
        let nanoseconds = clampedNanoseconds(timeout)
        if nanoseconds == Int64.max {
            wait()
            return true
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        // At most ~292 years past the wall clock: no overflow.
        let fraction = Int(now.tv_nsec) + Int(nanoseconds % 1_000_000_000)
        var deadline = timespec(tv_sec: now.tv_sec + Int(nanoseconds / 1_000_000_000) + fraction / 1_000_000_000,
                                tv_nsec: fraction % 1_000_000_000)
        defer { OperationCounts.countLockAcquisition() }
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }

    /// Releases the mutex (which the caller holds) while `body` runs.
    @inline(__always)
    package func unlockedDuring(_ body: () -> Void) {
        pthread_mutex_unlock(mutex)
        defer {
            pthread_mutex_lock(mutex)
            OperationCounts.countLockAcquisition()
        }
        body()
    }

    /// Wakes every sleeper.
    @inline(__always)
    package func broadcast() { pthread_cond_broadcast(condition) }
}
