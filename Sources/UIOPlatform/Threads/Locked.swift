#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex, with `Mutex`'s `withLock` shape.
///
/// Why not the standard library's `Mutex`: on Linux it locks with raw futex calls inside the
/// precompiled standard library, which ThreadSanitizer cannot see, so every access it protects is
/// reported as a race (checked with a two-thread counter under `-sanitize=thread`). A pthread
/// mutex is intercepted by the sanitizer, so the concurrency tests prove what they claim.
package final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is touched only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    /// Whether acquisitions count in ``OperationCounts`` (a simulated kernel's do not: the real
    /// kernel's locks are not the framework's).
    private let counted: Bool

    package init(_ value: Value, countingAcquisitions counted: Bool = true) {
        self.value = value
        self.counted = counted
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held and the value at hand.
    @inline(__always)
    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        if counted { OperationCounts.countLockAcquisition() }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
