import UIOPlatform

/// The thread a DPC (`EvtInterruptDpc`) or work item (`EvtInterruptWorkItem`) runs on, with
/// WDF's queueing rules (those of a `WorkerThread`'s standing job):
/// - queueing an already queued, not yet started callback does nothing and returns `false`;
/// - queueing while the callback runs makes it run once more afterwards;
/// - ``stop()`` lets a queued run finish, refuses new ones, and returns only when no run is
///   under way, so no callback runs after it.
final class DeferredCallWorker: Sendable {
    private let worker = WorkerThread()

    /// A worker with no thread: it refuses runs until ``start(name:callback:)``.
    init() {}

    /// Starts the thread, named `name`; `callback` is called for each run.
    func start(name: String, callback: @escaping @Sendable () -> Void) throws(DriverError) {
        do {
            try worker.start(name: name, standingJob: callback)
        } catch {
            throw DriverError(.insufficientResources, "could not start the thread \(name)", underlying: .threadFailed(name, errno: error))
        }
    }

    /// Whether the calling thread is this worker's.
    var isCurrentThread: Bool { worker.isCurrentThread }

    /// Queues a run, stamped with `queuedAt` (monotonic nanoseconds, or 0 for none). `false`
    /// when one is already queued and not yet started, or while the worker is stopped.
    @inline(__always)
    func queue(queuedAt: UInt64) -> Bool { worker.requestStandingJob(stamp: queuedAt) }

    /// The stamp of the queueing the current run answers; read from the callback.
    var queuedAtOfCurrentRun: UInt64 { worker.stampOfCurrentRun }

    /// Refuses new runs, waits for a queued or running one to finish, and ends the thread.
    /// Idempotent. Must not be called from the callback itself, which would wait for itself.
    func stop() {
        precondition(!isCurrentThread, "stopping an interrupt from its own DPC or work item would wait for itself")
        worker.stop()
    }
}
