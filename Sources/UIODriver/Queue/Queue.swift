import UIOPlatform
import UIO

/// A framework queue (`WDFQUEUE`) with sequential dispatch: submitted work runs one item at a
/// time, in order, on the queue's own thread, holding the queue's lock.
///
/// An interrupt parented to a queue with automatic serialization runs its DPC or work item
/// under the same lock, so it never overlaps the queue's work: how a DPC completes requests
/// the queue started without a lock of the driver's own.
public final class Queue: FrameworkObject, Sendable {

    /// The device the queue belongs to.
    public let device: Device
    /// The level the queue's work runs at; inherits the device's by default.
    public let executionLevel: ExecutionLevel

    let synchronizationLock: DriverLock
    private let worker: WorkerThread

    /// `WdfIoQueueCreate` with `WdfIoQueueDispatchSequential`.
    public init(device: Device, executionLevel: ExecutionLevel = .inheritFromParent) throws(DriverError) {
        self.device = device
        let level = executionLevel == .inheritFromParent ? device.executionLevel : executionLevel
        self.executionLevel = level
        self.synchronizationLock = DriverLock(kind: level == .passive ? .wait : .spin,
                                              name: "the queue lock of \(device.resources.name)")
        let lock = synchronizationLock
        worker = try startWorker(name: "\(device.resources.threadPrefix)-queue", around: { job in lock.withLock("the queue's work", job) })
        do throws(DriverError) {
            try device.attach(self)
        } catch {
            worker.stop()
            throw error
        }
    }

    /// Adds `work` to the queue. `false` once the device is stopping.
    @discardableResult
    public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        worker.submit(work)
    }

    /// `WdfObjectAcquireLock` on the queue: runs `body` serialized with the queue's work.
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try synchronizationLock.withLock("WdfObjectAcquireLock", body)
    }

    /// Whether the calling thread is the queue's own (running its work) or holds its lock.
    var isBusyOnCurrentThread: Bool {
        synchronizationLock.isHeldByCurrentThread || worker.isCurrentThread
    }

    /// Runs what was submitted, refuses more, and ends the thread. Called by the device's stop.
    func stop() { worker.stop() }
}
