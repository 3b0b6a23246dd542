import SystemPackage

/// A thread that runs submitted jobs one at a time, in order: what a DPC, a work item and a
/// sequential queue run on.
///
/// - ``submit(_:coalescing:)`` with `coalescing` refuses a job while another waits to start, so
///   repeated requests before the thread gets to them run once (`WdfInterruptQueueDpcForIsr`);
///   one submitted while a job runs still runs afterwards.
/// - ``stop()`` refuses new jobs, lets every submitted one finish, and returns when none is
///   running and the thread has ended. From the worker's own thread it would wait for itself,
///   so it traps there, naming the rule.
///
/// Submitting and waking allocate nothing beyond the job's own closure: a slot in a reserved
/// array under a mutex, and a condition variable. What every job runs inside (a queue's lock) is
/// given once, at the start.
package final class WorkerThread: @unchecked Sendable {
    // @unchecked: everything below is touched only with `condition`'s mutex held.
    private let condition = ConditionVariable()
    private var pending: [@Sendable () -> Void] = []
    private var running = false
    private var closed = false
    private var ending = false
    private var thread: OSThread?
    private let around: @Sendable (() -> Void) -> Void

    /// Starts the thread, named `name`; each job runs inside `around` (by default, as it is).
    package init(name: String, around: @escaping @Sendable (() -> Void) -> Void = { $0() }) throws(Errno) {
        self.around = around
        pending.reserveCapacity(4)
        // The thread keeps the worker alive until its loop ends in stop().
        thread = try OSThread(name: name) { self.loop() }
    }

    /// Whether the calling thread is this worker's.
    package var isCurrentThread: Bool { condition.withLock { thread?.isCurrent ?? false } }

    /// Queues `job`. `false` after ``stop()``, and with `coalescing` while a job waits to start.
    @inline(__always)
    package func submit(_ job: @escaping @Sendable () -> Void, coalescing: Bool = false) -> Bool {
        condition.withLock {
            if closed || (coalescing && !pending.isEmpty) { return false }
            pending.append(job)
            condition.broadcast()
            return true
        }
    }

    /// Refuses new jobs, waits for the submitted ones to finish, and ends the thread. Idempotent.
    package func stop() {
        precondition(!isCurrentThread, "a worker thread stopped from its own job would wait for itself")
        let toJoin: OSThread? = condition.withLock {
            closed = true
            // Jobs submitted before stopping still run: each answers something that happened.
            while !pending.isEmpty || running { condition.wait() }
            ending = true
            condition.broadcast()
            defer { thread = nil }
            return thread
        }
        toJoin?.join()
    }

    private func loop() {
        condition.withLock {
            while true {
                while pending.isEmpty && !ending { condition.wait() }
                guard !pending.isEmpty else { return }
                let job = pending.removeFirst()
                running = true
                condition.unlockedDuring { around(job) }
                running = false
                condition.broadcast()
            }
        }
    }
}
