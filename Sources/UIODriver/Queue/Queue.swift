import UIO

/// A framework queue (`WDFQUEUE`) with sequential dispatch: submitted work runs one item at a
/// time, in order, on the queue's own thread, holding the queue's lock.
///
/// An interrupt parented to a queue with automatic serialization runs its DPC or work item
/// under the same lock, so it never overlaps the queue's work: how a DPC completes requests
/// the queue started without a lock of the driver's own.
public final class Queue: FrameworkObject, @unchecked Sendable {
    // @unchecked: `pending`, `closed`, `ending` and `busy` are touched only with `signal`'s mutex held.

    /// The device the queue belongs to.
    public let device: Device
    /// The level the queue's work runs at; inherits the device's by default.
    public let executionLevel: ExecutionLevel

    let synchronizationLock: DriverLock
    private let signal = Signal()
    private var pending: [@Sendable () -> Void] = []
    private var busy = false
    private var closed = false
    private var ending = false
    private var thread: OSThread?

    /// `WdfIoQueueCreate` with `WdfIoQueueDispatchSequential`.
    public init(device: Device, executionLevel: ExecutionLevel = .inheritFromParent) throws(DriverError) {
        self.device = device
        let level = executionLevel == .inheritFromParent ? device.executionLevel : executionLevel
        self.executionLevel = level
        self.synchronizationLock = DriverLock(kind: level == .passive ? .wait : .spin,
                                              name: "the queue lock of \(device.resources.device.devicePath)")
        try device.attach(self)
        thread = try startThread(name: "uio\(device.resources.device.number)-queue") { self.loop() }
    }

    /// Adds `work` to the queue. `false` once the device is stopping.
    @discardableResult
    public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        signal.withLock {
            guard !closed else { return false }
            pending.append(work)
            signal.broadcast()
            return true
        }
    }

    /// `WdfObjectAcquireLock` on the queue: runs `body` serialized with the queue's work.
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try synchronizationLock.withLock("WdfObjectAcquireLock", body)
    }

    /// Whether the calling thread is the queue's own (running its work) or holds its lock.
    var isBusyOnCurrentThread: Bool {
        synchronizationLock.isHeldByCurrentThread || signal.withLock { thread?.isCurrent ?? false }
    }

    /// Runs what was submitted, refuses more, and ends the thread. Called by the device's stop.
    func stop() {
        let toJoin: OSThread? = signal.withLock {
            closed = true
            while !pending.isEmpty || busy { signal.wait() }
            ending = true
            signal.broadcast()
            defer { thread = nil }
            return thread
        }
        if let toJoin, !toJoin.isCurrent { toJoin.join() }
    }

    private func loop() {
        signal.withLock {
            while true {
                while pending.isEmpty && !ending { signal.wait() }
                guard !pending.isEmpty else { return }
                let work = pending.removeFirst()
                busy = true
                signal.unlockedDuring { synchronizationLock.withLock("the queue's work") { work() } }
                busy = false
                signal.broadcast()
            }
        }
    }
}
