import CUIOShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A dedicated kernel-scheduled thread: what the ISR, DPC and work-item loops run on.
///
/// Never a Swift concurrency task: those loops block in `poll` or on a condition, and the
/// cooperative pool must not be blocked.
package final class OSThread: Sendable {
    private let thread: pthread_t

    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (the kernel keeps 15 characters of it).
    /// Throws `pthread_create`'s error (`EAGAIN`: the process reached its thread limit).
    package init(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) {
        let start = Unmanaged.passRetained(Start(name: name, body: body))
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            cuio_set_thread_name(String(start.name.prefix(15)))
            start.body()
            return nil
        }, start.toOpaque())
        guard status == 0 else {
            start.release()
            throw Errno(rawValue: status)
        }
        self.thread = thread
    }

    /// Starts `body` on a thread nobody waits for; it cleans up after itself when it ends.
    package static func detached(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) {
        let thread = try OSThread(name: name, body)
        pthread_detach(thread.thread)
    }

    /// Whether the calling thread is this one.
    package var isCurrent: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Lets the thread run only on `cpus`. Throws `EINVAL` when none of them is online.
    package func pin(to cpus: [Int]) throws(Errno) {
        let cpus32 = cpus.map { Int32(truncatingIfNeeded: $0) }
        let result = cpus32.withUnsafeBufferPointer { cuio_thread_set_affinity(thread, $0.baseAddress, Int32($0.count)) }
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// Gives the thread the real-time policy `SCHED_FIFO` at `priority` (1...99). Throws `EPERM`
    /// without `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` allowing it.
    package func setRealTimePriority(_ priority: Int32) throws(Errno) {
        let result = cuio_thread_set_fifo(thread, priority)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// Lets the thread end on its own, nobody waiting for it. Call once, instead of ``join()``.
    package func detach() { pthread_detach(thread) }

    /// Waits for the thread to end. Call once.
    package func join() {
        precondition(!isCurrent, "a thread cannot wait for itself to end")
        pthread_join(thread, nil)
    }
}
