import CUIOShim

/// Per-thread counts of lock acquisitions and of system calls through a counting seam, for tests
/// that pin the work done per interrupt. Debug builds count; release builds count nothing.
@usableFromInline
package enum OperationCounts {
    /// Whether this build counts (debug builds do).
    package static var isCounting: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }

    /// Framework lock acquisitions by the calling thread so far (mutexes, condition-variable
    /// re-acquisitions, the interrupt lock).
    package static var lockAcquisitionsOnThisThread: UInt64 { cuio_lock_acquisitions_on_this_thread() }
    /// Calls the calling thread made through a seam made by ``SystemCalls/countingEachCall()``.
    package static var systemCallsOnThisThread: UInt64 { cuio_system_calls_on_this_thread() }

    @usableFromInline @inline(__always)
    package static func countLockAcquisition() {
        #if DEBUG
        cuio_count_lock_acquisition()
        #endif
    }

    @usableFromInline @inline(__always)
    package static func countSystemCall() {
        #if DEBUG
        cuio_count_system_call()
        #endif
    }
}
