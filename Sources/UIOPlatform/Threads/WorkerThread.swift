import SystemPackage

/// A thread that runs jobs one at a time: what a DPC, a work item and a sequential queue run on.
///
/// - A **standing job**, given when the thread starts, runs once per ``requestStandingJob()``; a request
///   while one waits to start is refused, so repeated requests before the thread gets to them run
///   once (`WdfInterruptQueueDpcForIsr`), and one made while the job runs makes it run once more.
///   Requesting allocates nothing: a flag under a mutex, and a condition variable.
/// - **Submitted jobs** (``submit(_:)``) run in the order submitted. A closure kept in an array
///   costs an allocation (its reabstraction), which is why the standing job has no array.
/// - ``stop()`` refuses new work, lets everything requested or submitted finish, and returns when
///   nothing runs and the thread has ended. From the worker's own thread it would wait for itself,
///   so it traps there, naming the rule. ``start(name:standingJob:)`` may follow with a new
///   thread: a worker made once serves every connection of its owner, so the owner reaches it
///   without a lock.
package final class WorkerThread: @unchecked Sendable {
    // @unchecked: everything below is touched only with `condition`'s mutex held, except
    // `runningStamp`, which only the worker's own thread touches.
    private let condition = ConditionVariable()
    private var pending: [@Sendable () -> Void] = []
    private var standingRequested = false
    private var running = false
    private var closed = false
    private var ending = false
    private var thread: OSThread?
    private var standingJob: (@Sendable () -> Void)?
    /// The stamp of the accepted request waiting to start, and of the run under way.
    private var requestedStamp: UInt64 = 0
    private var runningStamp: UInt64 = 0
    private let around: @Sendable (() -> Void) -> Void

    /// A worker with no thread yet: it refuses work until ``start(name:standingJob:)``. Every
    /// job will run inside `around` (by default, as it is).
    package init(around: @escaping @Sendable (() -> Void) -> Void = { $0() }) {
        self.around = around
        closed = true
    }

    /// A worker whose thread, named `name`, is started at once.
    package convenience init(name: String, standingJob: (@Sendable () -> Void)? = nil,
                             around: @escaping @Sendable (() -> Void) -> Void = { $0() }) throws(Errno) {
        self.init(around: around)
        try start(name: name, standingJob: standingJob)
    }

    /// Starts the thread, named `name`, with `standingJob`; the worker then accepts work. Only
    /// while no thread runs (new, or after ``stop()``).
    package func start(name: String, standingJob: (@Sendable () -> Void)? = nil) throws(Errno) {
        condition.withLock {
            precondition(thread == nil, "a worker thread started twice")
            self.standingJob = standingJob
            ending = false
        }
        // The thread keeps the worker alive until its loop ends in stop(). Until it is recorded
        // and the worker opened, it only waits.
        let started = try OSThread(name: name) { self.loop() }
        condition.withLock {
            thread = started
            closed = false
        }
    }

    /// The stamp given with the request the standing job's current run answers (its queueing
    /// time, say). Read from the standing job only: its own thread wrote it.
    package var stampOfCurrentRun: UInt64 { runningStamp }

    /// Whether the calling thread is this worker's.
    package var isCurrentThread: Bool { condition.withLock { thread?.isCurrent ?? false } }

    /// Requests a run of the standing job, keeping `stamp` with it for the run to read
    /// (``stampOfCurrentRun``). `false` while a request waits to start, and after ``stop()``.
    @inline(__always)
    package func requestStandingJob(stamp: UInt64 = 0) -> Bool {
        condition.withLock {
            if closed || standingRequested { return false }
            standingRequested = true
            requestedStamp = stamp
            condition.broadcast()
            return true
        }
    }

    /// Queues `job`. `false` after ``stop()``.
    @discardableResult
    package func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.withLock {
            if closed { return false }
            pending.append(job)
            condition.broadcast()
            return true
        }
    }

    /// Refuses new work, waits for what was requested or submitted to finish, and ends the
    /// thread. Idempotent.
    package func stop() {
        precondition(!isCurrentThread, "a worker thread stopped from its own job would wait for itself")
        let toJoin: OSThread? = condition.withLock {
            closed = true
            // Work requested before stopping still runs: each answers something that happened.
            while standingRequested || !pending.isEmpty || running { condition.wait() }
            ending = true
            condition.broadcast()
            defer { thread = nil }
            return thread
        }
        toJoin?.join()
        // The job's closure may hold its owner, which holds this worker: let go of it.
        condition.withLock { standingJob = nil }
    }

    private func loop() {
        condition.withLock {
            while true {
                while !standingRequested && pending.isEmpty && !ending { condition.wait() }
                running = true
                if standingRequested, let standingJob {
                    standingRequested = false
                    runningStamp = requestedStamp
                    condition.unlockedDuring { around(standingJob) }
                } else if !pending.isEmpty {
                    let job = pending.removeFirst()
                    condition.unlockedDuring { around(job) }
                } else {
                    running = false
                    return
                }
                running = false
                condition.broadcast()
            }
        }
    }
}
