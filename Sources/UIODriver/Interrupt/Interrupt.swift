import Logging
import Metrics
import UIOPlatform
import Synchronization
import UIO

/// A framework interrupt object (`WDFINTERRUPT`, `WdfInterruptCreate`) over a UIO interrupt.
///
/// Created in device add (after ``Device/init(resources:context:executionLevel:callbacks:logger:)``, before
/// ``Device/start()``) or in `prepareHardware`. When the device enters D0 the interrupt connects:
/// its ISR thread blocks on the UIO interrupt file, and on each wake-up takes the interrupt lock,
/// calls the ISR, releases the lock and re-arms the line (the way the bound kernel driver needs).
/// The ISR queues the DPC or work item, which run on their own threads (or, for a DPC with
/// ``DPCPlacement/serviceThread``, on the ISR thread after the re-arm).
///
/// `Context` is the per-object context (WDF's typed context space). It is protected by the
/// interrupt lock: reach it with ``synchronize(_:)`` or, where the lock is already held (ISR,
/// enable, disable, between ``acquireLock()`` and ``releaseLock()``), ``withLockedContext(_:)``.
public final class Interrupt<Context: Sendable>: FrameworkObject, @unchecked Sendable {
    // @unchecked: `context` and `event` are touched only with the interrupt lock held,
    // `stormCounts` only by the ISR thread (one at a time: each is joined before the next starts);
    // `exportedMetrics` is written in `connect()` before the threads that read it start;
    // `connection` and `line` are behind their own mutexes; the rest is immutable or atomic.

    /// The device the interrupt belongs to.
    public let device: Device
    /// The parent given at creation: the device or a queue.
    public let parent: any FrameworkObject
    /// The configuration it was created with.
    public let config: InterruptConfig<Context>

    @usableFromInline let lock: DriverLock
    /// The interrupt vector of the device this object connects to (WDF's message ID): the
    /// device's next free one when the object was created.
    public var vector: Int { assignedVector.load(ordering: .acquiring) }
    private let assignedVector = Atomic<Int>(0)
    private let isr: InterruptConfig<Context>.ServiceRoutine
    private let serializationLock: DriverLock?
    private var context: Context
    /// Whether the source may be unmasked, and every mask and unmask of it, under a mutex of
    /// their own: the ISR thread re-arms after releasing the interrupt lock, so a thread waiting
    /// for that lock (a DPC's `synchronize`) never waits behind the re-arm's system calls, while
    /// a re-arm can still never follow a `disable()` that has returned.
    private let line = Locked(LineState())
    private var event = InterruptEvent(count: 0, newInterrupts: 0)
    private let counters = InterruptCounters()
    private let connection = Locked(Connection())
    /// Callers waiting to mask the source: the ISR thread leaves it masked for them, so an
    /// interrupt storm (each re-arm delivering the next at once) cannot keep them from the lock.
    private let maskRequests = Atomic<Int>(0)
    private let subscribers = InterruptEventSubscribers()
    /// Whether the ISR may be called: set by `enable()` and cleared by `disable()`, both holding
    /// the interrupt lock, and read by the ISR thread holding it — so no ISR starts after
    /// `disable()` returns, even for an interrupt taken from the source just before.
    private let callsISR = Atomic<Bool>(false)
    /// Interrupts taken from the source while the ISR may not be called; `enable()` gives them
    /// back, through the source or (``replayInterrupts``) the ISR thread.
    private let heldInterrupts = Atomic<UInt32>(0)
    /// Held interrupts the source will not deliver again: the ISR thread, woken by `enable()`,
    /// hands them to the ISR.
    private let replayInterrupts = Atomic<UInt32>(0)

    private struct LineState {
        var enabled = false
        var active = true
        /// Masked by the storm guard, until the next `enable()`.
        var stormMasked = false
        var mayUnmask: Bool { enabled && active && !stormMasked }
    }
    private var stormCounts: StormGuardCounts?

    /// The DPC's and the work item's workers, made once: queueing reaches them without a lock,
    /// and they refuse runs while the interrupt is not connected.
    private typealias DeferredRoutine = InterruptConfig<Context>.DeferredRoutine
    private let dpcWorker: DeferredCallWorker?
    private let workItemWorker: DeferredCallWorker?
    /// A DPC run on the ISR thread (``DPCPlacement/serviceThread``), and its state: whether
    /// queueing is accepted (while the ISR thread runs) and whether a run is queued, in one word
    /// so that accepting and queueing are one step.
    private let serviceThreadDPC: DeferredRoutine?
    private let serviceThreadDPCState = Atomic<UInt8>(0)
    private static var dpcAccepted: UInt8 { 1 }
    private static var dpcQueued: UInt8 { 2 }
    /// The ISR thread's `Processor.currentThread` while it runs, 0 otherwise: queueing from any
    /// other thread must wake it, and `stop()` on it must trap.
    private let serviceThreadMarker = Atomic<UInt>(0)
    /// When the DPC for the ISR thread was queued from that thread (0: not recorded).
    private let serviceThreadDPCQueuedAt = Atomic<UInt64>(0)
    private let recordsTimings: Bool
    /// The histograms' storage (17 KiB for the three), made only when timings are recorded.
    private let isrDurations: DurationRecorder?
    private let dpcLatencies: DurationRecorder?
    private let workItemLatencies: DurationRecorder?
    private var exportedMetrics: InterruptMetrics?

    private struct Connection {
        var source: (any InterruptSource)?
        var serviceThread: InterruptServiceThread?
    }

    /// `WdfInterruptCreate`: validates `config` with WDF's rules and attaches the interrupt to
    /// `parent`'s device.
    ///
    /// Throws ``DriverError`` with the status WDF returns: ``DriverError/Status/invalidParameter``
    /// (no ISR; DPC and work item both; a wait lock without passive handling; a spin lock with
    /// it), ``DriverError/Status/parentAssignmentNotAllowed`` (the parent is neither a device nor
    /// a queue), ``DriverError/Status/invalidDeviceState`` (not in device add or prepare
    /// hardware), ``DriverError/Status/incompatibleExecutionLevel`` (automatic serialization of a
    /// DPC under a passive parent, or of a work item under a dispatch parent),
    /// ``DriverError/Status/notSupported`` (`canWakeDevice`; an unshared vector on uio_pci_generic),
    /// ``DriverError/Status/insufficientResources`` (more interrupt objects than the device has
    /// vectors: UIO offers one, and WDF would leave the extra object silently unconnected).
    /// Each object takes the device's next vector, in the order of creation.
    public init(parent: any FrameworkObject, config: InterruptConfig<Context>, context: Context) throws(DriverError) {
        let checked = try config.checked(parent: parent)
        self.device = parent.device
        self.parent = parent
        self.config = config
        self.context = context
        self.isr = checked.isr
        self.lock = checked.lock
        self.serializationLock = checked.serializationLock
        self.stormCounts = config.stormGuard.map(StormGuardCounts.init)
        let recordsTimings = config.recordsTimings || config.exportsMetrics
        self.recordsTimings = recordsTimings
        self.isrDurations = recordsTimings ? DurationRecorder() : nil
        self.dpcLatencies = recordsTimings ? DurationRecorder() : nil
        self.workItemLatencies = recordsTimings ? DurationRecorder() : nil
        let dpcOnServiceThread = config.dpcPlacement == .serviceThread
        self.dpcWorker = config.dpc == nil || dpcOnServiceThread ? nil : DeferredCallWorker()
        self.serviceThreadDPC = dpcOnServiceThread ? config.dpc : nil
        self.workItemWorker = config.workItem == nil ? nil : DeferredCallWorker()
        try parent.device.attach(self) { vector in self.assignedVector.store(vector, ordering: .releasing) }
    }

    // MARK: - The interrupt lock

    /// `WdfInterruptAcquireLock`: takes the interrupt lock, waiting while the ISR or another
    /// thread holds it. Traps if this thread holds it already (the lock is not recursive, and
    /// the ISR, enable and disable callbacks run with it held).
    @inlinable public func acquireLock() { lock.acquire("WdfInterruptAcquireLock") }

    /// `WdfInterruptTryToAcquireLock`: takes the lock only if it is free; never waits.
    @inlinable public func tryToAcquireLock() -> Bool { lock.tryAcquire("WdfInterruptTryToAcquireLock") }

    /// `WdfInterruptReleaseLock`. Traps if this thread does not hold the lock.
    @inlinable public func releaseLock() { lock.release("WdfInterruptReleaseLock") }

    /// `WdfInterruptSynchronize`: runs `body` with the interrupt lock held and the context at hand.
    public func synchronize<R, E: Error>(_ body: (inout Context) throws(E) -> R) throws(E) -> R {
        lock.acquire("WdfInterruptSynchronize")
        defer { lock.release("WdfInterruptSynchronize") }
        return try body(&context)
    }

    /// The context, where the calling thread already holds the interrupt lock (in the ISR, enable
    /// or disable callbacks, or after ``acquireLock()``). Traps otherwise.
    public func withLockedContext<R, E: Error>(_ body: (inout Context) throws(E) -> R) throws(E) -> R {
        guard lock.isHeldByCurrentThread else {
            fatalError("withLockedContext: the interrupt's context is reached only with its lock held; use synchronize { } instead")
        }
        return try body(&context)
    }

    /// Whether the interrupt lock is held by any thread (a snapshot, for diagnostics).
    public var isLockHeld: Bool { lock.isHeld }

    /// What the current wake-up reported: valid in the ISR (the kernel's total count and how many
    /// interrupts collapsed into this wake-up). Traps outside the interrupt lock.
    public var currentEvent: InterruptEvent {
        guard lock.isHeldByCurrentThread else { fatalError("currentEvent is read in the ISR, or with the interrupt lock held") }
        return event
    }

    // MARK: - Deferred work

    /// `WdfInterruptQueueDpcForIsr`: queues the DPC. `false` if it is already queued and has not
    /// started, or the interrupt is not connected. Queued while it runs, it runs once more.
    @discardableResult
    public func queueDPC() -> Bool {
        if let dpcWorker { return dpcWorker.queue(queuedAt: recordsTimings ? monotonicNanoseconds() : 0) }
        guard serviceThreadDPC != nil else { return false }
        var state = serviceThreadDPCState.load(ordering: .acquiring)
        while true {
            guard state & Self.dpcAccepted != 0, state & Self.dpcQueued == 0 else { return false }
            let (exchanged, current) = serviceThreadDPCState.compareExchange(
                expected: state, desired: state | Self.dpcQueued, ordering: .acquiringAndReleasing)
            if exchanged { break }
            state = current
        }
        if Processor.currentThread == serviceThreadMarker.load(ordering: .relaxed) {
            // The ISR thread runs it next and reads this: the same thread, so no race.
            if recordsTimings { serviceThreadDPCQueuedAt.store(monotonicNanoseconds(), ordering: .relaxed) }
        } else {
            // Queued from elsewhere: no latency sample (the ISR thread may run it before a stamp
            // would land), and the ISR thread must be woken.
            try? connection.withLock { $0.source }?.cancel()
        }
        return true
    }

    /// `WdfInterruptQueueWorkItemForIsr`: queues the work item, with the DPC's rules.
    @discardableResult
    public func queueWorkItem() -> Bool { workItemWorker?.queue(queuedAt: recordsTimings ? monotonicNanoseconds() : 0) ?? false }

    // MARK: - Enable, disable, activity

    /// `WdfInterruptEnable`: unmasks the line at the device (irqcontrol or the INTx bit) and
    /// calls `EvtInterruptEnable` with the lock held.
    public func enable() throws(DriverError) {
        let line = try connectedSource("WdfInterruptEnable")
        try lock.withLock("WdfInterruptEnable") { () throws(DriverError) in
            try self.line.withLock { state throws(DriverError) in
                do throws(UIOError) {
                    try line.enable()
                } catch {
                    throw DriverError.device(error, while: "unmasking the interrupt")
                }
                state.enabled = true
                state.stormMasked = false
            }
            callsISR.store(true, ordering: .relaxed)
            // Interrupts held while disabled: a level line delivers them again by itself, now
            // that it is unmasked; for any other source the ISR thread is woken to replay them.
            let held = heldInterrupts.exchange(0, ordering: .relaxed)
            if held > 0 && !line.redeliversUnhandledInterrupts {
                replayInterrupts.wrappingAdd(held, ordering: .relaxed)
                do throws(UIOError) { try line.cancel() } catch {
                    device.logger.error("\(held) interrupts held while disabled wait for the next wake-up: waking the ISR thread failed: \(error)")
                }
            }
            do {
                try config.enable?(self, device)
            } catch {
                throw DriverError(.callbackFailed, "EvtInterruptEnable failed: \(error)", callbackError: error)
            }
        }
    }

    /// `WdfInterruptDisable`: calls `EvtInterruptDisable` with the lock held, then masks the line
    /// at the device. Interrupts raised meanwhile stay pending until ``enable()``. While it waits
    /// for the lock the ISR thread does not re-arm the line, so an interrupt storm cannot keep it
    /// waiting. No ISR starts after it returns: an interrupt the ISR thread had already taken
    /// from the source is held (``InterruptStatistics/held``) until ``enable()`` gives it back.
    public func disable() throws(DriverError) {
        let line = try connectedSource("WdfInterruptDisable")
        maskRequests.add(1, ordering: .relaxed)
        defer { maskRequests.subtract(1, ordering: .relaxed) }
        try lock.withLock("WdfInterruptDisable") { () throws(DriverError) in
            callsISR.store(false, ordering: .relaxed)
            var callbackError: (any Error)?
            do { try config.disable?(self, device) } catch { callbackError = error }
            try self.line.withLock { state throws(DriverError) in
                state.enabled = false
                do throws(UIOError) {
                    try line.disable()
                } catch {
                    throw DriverError.device(error, while: "masking the interrupt")
                }
            }
            if let callbackError {
                throw DriverError(.callbackFailed, "EvtInterruptDisable failed: \(callbackError)", callbackError: callbackError)
            }
        }
    }

    /// `WdfInterruptReportActive`: the device's interrupt is expected again; unmasks the line.
    public func reportActive() throws(DriverError) {
        let line = try connectedSource("WdfInterruptReportActive")
        try lock.withLock("WdfInterruptReportActive") { () throws(DriverError) in
            try self.line.withLock { state throws(DriverError) in
                state.active = true
                guard state.mayUnmask else { return }
                do throws(UIOError) { try line.enable() } catch { throw DriverError.device(error, while: "unmasking the interrupt") }
            }
        }
    }

    /// `WdfInterruptReportInactive`: the device will raise no interrupt (it is in a low-power
    /// state); masks the line without calling the disable callback.
    public func reportInactive() throws(DriverError) {
        let line = try connectedSource("WdfInterruptReportInactive")
        maskRequests.add(1, ordering: .relaxed)
        defer { maskRequests.subtract(1, ordering: .relaxed) }
        try lock.withLock("WdfInterruptReportInactive") { () throws(DriverError) in
            try self.line.withLock { state throws(DriverError) in
                state.active = false
                do throws(UIOError) { try line.disable() } catch { throw DriverError.device(error, while: "masking the interrupt") }
            }
        }
    }

    /// Whether the interrupt is enabled (between ``enable()`` and ``disable()``).
    public var isEnabled: Bool { line.withLock { $0.enabled } }

    // MARK: - Information

    /// `WdfInterruptGetInfo`.
    public var info: InterruptInfo {
        InterruptInfo.describe(device.resources.interruptDescription(vector: vector))
    }

    /// The counts of wake-ups, interrupts, recognized and unrecognized ISR calls, DPC runs.
    /// Atomic loads only: cheap enough to poll.
    public var statistics: InterruptStatistics {
        InterruptStatistics(
            wakeUps: counters.wakeUps.load(ordering: .acquiring),
            interrupts: counters.interrupts.load(ordering: .relaxed),
            coalesced: counters.coalesced.load(ordering: .relaxed),
            held: counters.held.load(ordering: .relaxed),
            replayed: counters.replayed.load(ordering: .relaxed),
            recognized: counters.recognized.load(ordering: .relaxed),
            unrecognized: counters.unrecognized.load(ordering: .relaxed),
            dpcRuns: counters.dpcRuns.load(ordering: .relaxed),
            workItemRuns: counters.workItemRuns.load(ordering: .relaxed),
            rearmFailures: counters.rearmFailures.load(ordering: .relaxed),
            storms: counters.storms.load(ordering: .relaxed),
            lastCount: counters.lastCount.load(ordering: .relaxed))
    }

    /// How long ISR calls took (lock held, from the call to its return), and how long DPCs and
    /// work items waited from queueing to starting: histograms, with ``InterruptConfig/recordsTimings``.
    public var timings: InterruptTimings {
        InterruptTimings(isrDuration: isrDurations?.histogram ?? .empty, dpcLatency: dpcLatencies?.histogram ?? .empty,
                         workItemLatency: workItemLatencies?.histogram ?? .empty)
    }

    /// The interrupt events as an `AsyncSequence`, for Swift-concurrency code that wants to
    /// follow them. A convenience beside the ISR, never instead of it: the ISR has already run
    /// for each event delivered here, and a slow reader loses the oldest events beyond
    /// `bufferingNewest`. The stream finishes when the interrupt disconnects.
    public func events(bufferingNewest limit: Int = 256) -> AsyncStream<InterruptEvent> {
        subscribers.stream(bufferingNewest: limit)
    }

    // MARK: - Connection (driven by the device's D0 entry and exit)

    private func connectedSource(_ operation: String) throws(DriverError) -> any InterruptSource {
        guard let line = connection.withLock({ $0.source }) else {
            throw DriverError(.invalidDeviceState, "\(operation): the interrupt is not connected (the device is not in D0)")
        }
        return line
    }

    /// `uio0-isr` for vector 0, `uio0-isr3` for vector 3.
    private func threadName(_ job: String) -> String {
        "\(device.resources.threadPrefix)-\(job)\(vector == 0 ? "" : String(vector))"
    }
}

extension Interrupt: ConnectableInterrupt {
    func connect() throws(DriverError) {
        // Nothing held by an earlier connection is this one's to give back.
        heldInterrupts.store(0, ordering: .relaxed)
        replayInterrupts.store(0, ordering: .relaxed)
        let source: any InterruptSource
        do throws(UIOError) {
            source = try device.resources.interruptSource(vector: vector)
        } catch {
            throw DriverError.device(error, while: "opening the interrupt line")
        }
        let serialization = serializationLock
        let parent = self.parent
        let counters = self.counters
        if config.exportsMetrics && exportedMetrics == nil {
            exportedMetrics = InterruptMetrics(source: source.name, vector: vector)
        }
        do throws(DriverError) {
            if let routine = config.dpc, let dpcWorker {
                let latencies = dpcLatencies
                let timer = exportedMetrics?.dpcLatency
                try dpcWorker.start(name: threadName("dpc")) { [unowned self] in
                    Self.recordLatency(since: dpcWorker.queuedAtOfCurrentRun, in: latencies, timer)
                    counters.dpcRuns.add(1, ordering: .relaxed)
                    Self.runSerialized(serialization, "automatic serialization (DPC)") { routine(self, parent) }
                }
            }
            if let routine = config.workItem, let workItemWorker {
                let latencies = workItemLatencies
                let timer = exportedMetrics?.workItemLatency
                try workItemWorker.start(name: threadName("work")) { [unowned self] in
                    Self.recordLatency(since: workItemWorker.queuedAtOfCurrentRun, in: latencies, timer)
                    counters.workItemRuns.add(1, ordering: .relaxed)
                    Self.runSerialized(serialization, "automatic serialization (work item)") { routine(self, parent) }
                }
            }
            connection.withLock { $0.source = source }
            serviceThreadDPCState.store(Self.dpcAccepted, ordering: .releasing)
            let cpus = try serviceThreadCPUs()
            let thread = try InterruptServiceThread(name: threadName("isr"), source: source, client: self)
            connection.withLock { $0.serviceThread = thread }
            try thread.place(cpus: cpus, realTimePriority: config.serviceThreadPlacement.realTimePriority, name: source.name)
        } catch {
            serviceThreadDPCState.store(0, ordering: .releasing)
            connection.withLock { $0.serviceThread }?.stop()
            dpcWorker?.stop()
            workItemWorker?.stop()
            connection.withLock { $0 = Connection() }
            source.close()
            throw error
        }
    }

    /// The CPUs the placement asks for, `nil` for any.
    private func serviceThreadCPUs() throws(DriverError) -> [Int]? {
        switch config.serviceThreadPlacement.cpus {
        case .any: return nil
        case .these(let cpus): return cpus
        case .whereInterruptLands:
            guard let cpus = device.resources.interruptDeliveryCPUs(vector: vector) else {
                throw DriverError(.notSupported, "\(device.resources.name): the kernel does not say which CPU vector \(vector)'s interrupt lands on "
                                  + "(no effective_affinity_list or smp_affinity_list in /proc/irq); place the ISR thread with .these([...]) or leave it .any")
            }
            return cpus
        }
    }

    func disconnect() {
        let state = connection.withLock { state in
            defer { state = Connection() }
            return state
        }
        guard let source = state.source else { return }
        // Refuse new DPCs for the ISR thread; it runs one already queued before it ends.
        serviceThreadDPCState.bitwiseAnd(~Self.dpcAccepted, ordering: .acquiringAndReleasing)
        // Wake the ISR thread and wait for an ISR call under way: UMDF's first flush.
        state.serviceThread?.stop()
        // Let queued deferred work finish and refuse more: the second flush.
        dpcWorker?.stop()
        workItemWorker?.stop()
        source.close()
        subscribers.finishAll()
        device.logger.debug("interrupt disconnected", metadata: [
            "vector": "\(vector)", "statistics": "\(statistics)", "timings": "\(timings)"])
    }

    func powerUp() throws(DriverError) { try enable() }

    func powerDown() {
        try? disable()
        if config.reportInactiveOnPowerDown == .yes { try? reportInactive() }
    }

    var isCallbackThread: Bool {
        let isr = connection.withLock { $0.serviceThread }
        // The marker also covers the ISR thread's last flush, after `disconnect()` let go of it.
        return serviceThreadMarker.load(ordering: .acquiring) == Processor.currentThread
            || (isr?.isCurrent ?? false) || (dpcWorker?.isCurrentThread ?? false) || (workItemWorker?.isCurrentThread ?? false)
    }

    var isLockHeldByCurrentThread: Bool { lock.isHeldByCurrentThread }

    /// Records the wait from `queuedAt` to now, unless no stamp was taken (0).
    @inline(__always)
    private static func recordLatency(since queuedAt: UInt64, in recorder: DurationRecorder?, _ timer: Timer?) {
        guard queuedAt != 0 else { return }
        let waited = monotonicNanoseconds() &- queuedAt
        recorder?.record(nanoseconds: waited)
        timer?.recordNanoseconds(Int64(clamping: waited))
    }

    private static func runSerialized(_ lock: DriverLock?, _ operation: StaticString, _ body: () -> Void) {
        guard let lock else { return body() }
        lock.withLock(operation, body)
    }
}

extension Interrupt: InterruptServiceClient {
    func serve(_ event: InterruptEvent, from source: any InterruptSource) -> UIOError? {
        serve(event, from: source, replayed: false)
    }

    func serveReplayedInterrupts(from source: any InterruptSource) -> UIOError? {
        let replay = replayInterrupts.exchange(0, ordering: .relaxed)
        guard replay > 0 else { return nil }
        return serve(InterruptEvent(count: counters.lastCount.load(ordering: .relaxed), newInterrupts: replay),
                     from: source, replayed: true)
    }

    /// Calls the ISR for `event` with the lock held, then re-arms and counts. A `replayed` event
    /// was counted when it was held.
    private func serve(_ event: InterruptEvent, from source: any InterruptSource, replayed: Bool) -> UIOError? {
        lock.acquire("the ISR")
        guard callsISR.load(ordering: .relaxed) else {
            if replayed {
                heldInterrupts.wrappingAdd(event.newInterrupts, ordering: .relaxed)  // disabled again meanwhile
            } else {
                hold(event)
            }
            lock.release("the ISR")
            return nil
        }
        self.event = event
        let started = recordsTimings ? monotonicNanoseconds() : 0
        let recognized = isr(self, UInt32(truncatingIfNeeded: vector))
        let ended = recordsTimings ? monotonicNanoseconds() : 0
        lock.release("the ISR")
        isrDurations?.record(nanoseconds: ended &- started)
        if let exportedMetrics {
            exportedMetrics.isrDuration.recordNanoseconds(Int64(clamping: ended &- started))  // metrics imply timings
            exportedMetrics.wakeUps.increment()
            if !recognized { exportedMetrics.unrecognized.increment() }
        }
        let storm = stormCounts?.record(recognized: recognized)
        if storm != nil { maskForStorm(source) }
        let rearmError = rearmIfNeeded(source)
        if replayed {
            counters.replayed.add(1, ordering: .releasing)
        } else {
            counters.wakeUps.add(1, ordering: .releasing)
            counters.interrupts.add(UInt64(event.newInterrupts), ordering: .relaxed)
            counters.coalesced.add(UInt64(event.coalesced), ordering: .relaxed)
        }
        if recognized {
            counters.recognized.add(1, ordering: .relaxed)
        } else {
            counters.unrecognized.add(1, ordering: .relaxed)
        }
        if !replayed {
            counters.lastCount.store(event.count, ordering: .relaxed)
            subscribers.deliver(event)
        }
        if let storm {
            counters.storms.add(1, ordering: .relaxed)
            exportedMetrics?.storms.increment()
            let report = InterruptStorm(source: source.name, wakeUps: storm.wakeUps, unrecognized: storm.unrecognized,
                                        duration: storm.duration, statistics: statistics)
            device.logger.error("\(report)", metadata: ["vector": "\(vector)"])
            config.interruptStorm?(self, report)
        }
        return rearmError
    }

    /// An interrupt taken from the source after `disable()` took the lock: counted, not handed
    /// to the ISR, and not re-armed (the line is disabled) until `enable()` gives it back.
    private func hold(_ event: InterruptEvent) {
        heldInterrupts.wrappingAdd(event.newInterrupts, ordering: .relaxed)
        counters.held.add(1, ordering: .relaxed)
        counters.interrupts.add(UInt64(event.newInterrupts), ordering: .relaxed)
        counters.coalesced.add(UInt64(event.coalesced), ordering: .relaxed)
        counters.lastCount.store(event.count, ordering: .relaxed)
    }

    /// Masks the line for the storm guard; it stays masked (no re-arm) until `enable()`. A source
    /// that cannot mask (a maskless MSI vector) keeps signalling: what it signals is held, as
    /// while disabled, and given back at `enable()`.
    private func maskForStorm(_ source: any InterruptSource) {
        lock.withLock("the storm guard") {
            line.withLock { state in
                state.stormMasked = true
                // A source the kernel masks on delivery is masked already; an edge source is not.
                try? source.disable()
                if !source.canMask { callsISR.store(false, ordering: .relaxed) }
            }
        }
    }

    func retryReArm(_ source: any InterruptSource) -> UIOError? { rearmIfNeeded(source) }

    func serviceThreadStarted() { serviceThreadMarker.store(Processor.currentThread, ordering: .releasing) }

    func serviceThreadEnding() {
        // Accept no more (the thread is gone: nobody would run them), then run what was queued.
        serviceThreadDPCState.bitwiseAnd(~Self.dpcAccepted, ordering: .acquiringAndReleasing)
        runQueuedDeferredWork()
        serviceThreadMarker.store(0, ordering: .releasing)
    }

    func runQueuedDeferredWork() {
        guard let routine = serviceThreadDPC else { return }
        // Queued again while it ran (from another thread): it runs once more, as WDF's DPC does.
        while serviceThreadDPCState.bitwiseAnd(~Self.dpcQueued, ordering: .acquiringAndReleasing).oldValue & Self.dpcQueued != 0 {
            Self.recordLatency(since: serviceThreadDPCQueuedAt.exchange(0, ordering: .relaxed), in: dpcLatencies, exportedMetrics?.dpcLatency)
            counters.dpcRuns.add(1, ordering: .relaxed)
            Self.runSerialized(serializationLock, "automatic serialization (DPC)") { routine(self, parent) }
        }
    }

    var isMaskRequested: Bool { maskRequests.load(ordering: .relaxed) > 0 }

    func reArmFailed(_ error: UIOError, source: any InterruptSource) {
        let report = UIOError.reArmFailed(error, method: source.reArmMethod, devicePath: source.name)
        device.logger.warning("\(report)", metadata: ["vector": "\(vector)"])
        config.reArmFailed?(self, report)
    }

    func sourceFailed(_ error: UIOError) { device.reportFailure(error) }

    /// Re-arms the source unless it is meant to stay masked (disabled, inactive, or a caller is
    /// waiting to mask it); counts a failure. Called without the interrupt lock: the line's own
    /// mutex orders it against `disable()`, whose mask therefore always comes last.
    private func rearmIfNeeded(_ source: any InterruptSource) -> UIOError? {
        guard !isMaskRequested else { return nil }
        let error = line.withLock { state -> UIOError? in
            guard state.mayUnmask && !isMaskRequested else { return nil }
            do throws(UIOError) {
                try source.rearm()
            } catch {
                return error
            }
            return nil
        }
        if error != nil {
            counters.rearmFailures.add(1, ordering: .relaxed)
            exportedMetrics?.rearmFailures.increment()
        }
        return error
    }
}

/// What the device needs of each interrupt, whatever its context type.
protocol ConnectableInterrupt: AnyObject, Sendable {
    /// Opens the source and starts the ISR, DPC and work-item threads.
    func connect() throws(DriverError)
    /// Stops the threads (waiting for callbacks under way) and closes the source. Idempotent.
    func disconnect()
    /// D0 entry: ``Interrupt/enable()``.
    func powerUp() throws(DriverError)
    /// D0 exit: ``Interrupt/disable()``, errors ignored (the device may be gone).
    func powerDown()
    /// Whether the calling thread is this interrupt's ISR, DPC or work-item thread.
    var isCallbackThread: Bool { get }
    /// Whether the calling thread holds this interrupt's lock.
    var isLockHeldByCurrentThread: Bool { get }
}
