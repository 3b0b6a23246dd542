import UIO

/// The thread a DPC (`EvtInterruptDpc`) or work item (`EvtInterruptWorkItem`) runs on, with
/// WDF's queueing rules:
/// - queueing an already queued, not yet started callback does nothing and returns `false`;
/// - queueing while the callback runs makes it run once more afterwards;
/// - ``stop()`` lets a queued run finish, refuses new ones, and returns only when no run is
///   under way, so no callback runs after it.
///
/// Queueing and waking allocate nothing: a flag under a mutex and a condition variable.
final class DeferredCallWorker: @unchecked Sendable {
    // @unchecked: the flags and `thread` are touched only with `signal`'s mutex held.
    private let signal = Signal()
    private var queued = false
    private var running = false
    private var closed = false
    private var ending = false
    private var thread: OSThread?

    /// Starts the thread; `callback` is called for each run.
    init(name: String, callback: @escaping @Sendable () -> Void) throws(DriverError) {
        // The thread keeps the worker alive until its loop ends in stop().
        thread = try startThread(name: name) { self.loop(callback) }
    }

    /// Whether the calling thread is this worker's.
    var isCurrentThread: Bool { signal.withLock { thread?.isCurrent ?? false } }

    /// Queues a run. `false` when one is already queued and not yet started, or after ``stop()``.
    @inline(__always)
    func queue() -> Bool {
        signal.withLock {
            if queued || closed { return false }
            queued = true
            signal.broadcast()
            return true
        }
    }

    /// Refuses new runs, waits for a queued or running one to finish, and ends the thread.
    /// Idempotent. Must not be called from the callback itself, which would wait for itself.
    func stop() {
        precondition(!isCurrentThread, "stopping an interrupt from its own DPC or work item would wait for itself")
        let toJoin: OSThread? = signal.withLock {
            closed = true
            // A run queued before closing still runs: it answers an interrupt that happened.
            while queued || running { signal.wait() }
            ending = true
            signal.broadcast()
            defer { thread = nil }
            return thread
        }
        toJoin?.join()
    }

    private func loop(_ callback: @Sendable () -> Void) {
        signal.withLock {
            while true {
                while !queued && !ending { signal.wait() }
                if queued {
                    queued = false
                    running = true
                    signal.unlockedDuring(callback)
                    running = false
                    signal.broadcast()
                } else {
                    return
                }
            }
        }
    }
}
