import UIOPlatform
import Synchronization
import UIO

/// A framework interrupt object (`WDFINTERRUPT`, `WdfInterruptCreate`) over a UIO interrupt.
///
/// Created in device add (after ``Device/init(resources:executionLevel:callbacks:)``, before
/// ``Device/start()``) or in `prepareHardware`. When the device enters D0 the interrupt connects:
/// its ISR thread blocks on the UIO interrupt file, and on each wake-up takes the interrupt lock,
/// calls the ISR, re-arms the line (the way the bound kernel driver needs) and releases the lock.
/// The ISR queues the DPC or work item, which run on their own threads.
///
/// `Context` is the per-object context (WDF's typed context space). It is protected by the
/// interrupt lock: reach it with ``synchronize(_:)`` or, where the lock is already held (ISR,
/// enable, disable, between ``acquireLock()`` and ``releaseLock()``), ``withLockedContext(_:)``.
public final class Interrupt<Context: Sendable>: FrameworkObject, @unchecked Sendable {
    // @unchecked: `context`, `enabled`, `active` and `event` are touched only with the
    // interrupt lock held; `connection` is behind its own mutex; the rest is immutable or atomic.

    /// The device the interrupt belongs to.
    public let device: Device
    /// The parent given at creation: the device or a queue.
    public let parent: any FrameworkObject
    /// The configuration it was created with.
    public let config: InterruptConfig<Context>

    @usableFromInline let lock: DriverLock
    private let serializationLock: DriverLock?
    private var context: Context
    private var enabled = false
    private var active = true
    private var event = InterruptEvent(count: 0, newInterrupts: 0)
    private let counters = InterruptCounters()
    private let connection = Locked(Connection())
    private let stopping = Atomic<Bool>(false)
    /// Callers waiting to mask the line: the ISR thread leaves the line masked for them, so an
    /// interrupt storm (each re-arm delivering the next at once) cannot keep them from the lock.
    private let maskRequests = Atomic<Int>(0)
    private let subscribers = Locked([Int: AsyncStream<InterruptEvent>.Continuation]())
    private let subscriberCount = Atomic<Int>(0)

    private struct Connection {
        var line: InterruptLine?
        var isrThread: OSThread?
        var dpc: DeferredCallWorker?
        var workItem: DeferredCallWorker?
        var nextSubscriber = 0
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
    /// ``DriverError/Status/insufficientResources`` (a second interrupt on one UIO device: UIO
    /// offers one vector, and WDF would leave the extra object silently unconnected).
    public init(parent: any FrameworkObject, config: InterruptConfig<Context>, context: Context) throws(DriverError) {
        let serializationLevel: ExecutionLevel
        let parentLock: DriverLock
        switch parent {
        case let device as Device:
            serializationLevel = device.executionLevel
            parentLock = device.synchronizationLock
        case let queue as Queue:
            serializationLevel = queue.executionLevel
            parentLock = queue.synchronizationLock
        default:
            throw DriverError(.parentAssignmentNotAllowed, "an interrupt's parent must be a Device or a Queue, not \(type(of: parent))")
        }
        let device = parent.device
        guard config.isr != nil else {
            throw DriverError(.invalidParameter, "the config has no ISR (EvtInterruptIsr is required)")
        }
        guard config.dpc == nil || config.workItem == nil else {
            throw DriverError(.invalidParameter, "the config sets both a DPC and a work item; choose one")
        }
        if config.waitLock != nil && !config.passiveHandling {
            throw DriverError(.invalidParameter, "a wait lock is the interrupt lock only with passive handling")
        }
        if config.spinLock != nil && config.passiveHandling {
            throw DriverError(.invalidParameter, "passive handling needs a wait lock, not a spin lock")
        }
        if config.automaticSerialization {
            if config.dpc != nil && serializationLevel == .passive {
                throw DriverError(.incompatibleExecutionLevel,
                                  "automatic serialization of a DPC needs a parent at dispatch level; this parent is passive (use a work item)")
            }
            if config.workItem != nil && serializationLevel != .passive {
                throw DriverError(.incompatibleExecutionLevel,
                                  "automatic serialization of a work item needs a passive parent; this parent is at dispatch level (use a DPC)")
            }
        }
        if config.canWakeDevice {
            throw DriverError(.notSupported, "UIO has no wake interrupts (canWakeDevice)")
        }
        if config.shareVector == .no, let driver = device.resources.device.parent?.kernelDriver, driver.alwaysSharesLine {
            throw DriverError(.notSupported, "\(driver) always requests its line shared (shareVector = .no)")
        }
        self.device = device
        self.parent = parent
        self.config = config
        self.context = context
        self.serializationLock = config.automaticSerialization ? parentLock : nil
        let name = "the interrupt lock of \(device.resources.device.devicePath)"
        self.lock = config.spinLock?.lock ?? config.waitLock?.lock ?? DriverLock(kind: config.passiveHandling ? .wait : .spin, name: name)
        try device.attach(self)
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
        guard let worker = connection.withLock({ $0.dpc }) else { return false }
        return worker.queue()
    }

    /// `WdfInterruptQueueWorkItemForIsr`: queues the work item, with the DPC's rules.
    @discardableResult
    public func queueWorkItem() -> Bool {
        guard let worker = connection.withLock({ $0.workItem }) else { return false }
        return worker.queue()
    }

    // MARK: - Enable, disable, activity

    /// `WdfInterruptEnable`: unmasks the line at the device (irqcontrol or the INTx bit) and
    /// calls `EvtInterruptEnable` with the lock held.
    public func enable() throws(DriverError) {
        let line = try connectedLine("WdfInterruptEnable")
        try lock.withLock("WdfInterruptEnable") { () throws(DriverError) in
            do throws(UIOError) {
                try line.enable()
            } catch {
                throw DriverError.device(error, while: "unmasking the interrupt")
            }
            enabled = true
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
    /// waiting.
    public func disable() throws(DriverError) {
        let line = try connectedLine("WdfInterruptDisable")
        maskRequests.add(1, ordering: .relaxed)
        defer { maskRequests.subtract(1, ordering: .relaxed) }
        try lock.withLock("WdfInterruptDisable") { () throws(DriverError) in
            enabled = false
            var callbackError: (any Error)?
            do { try config.disable?(self, device) } catch { callbackError = error }
            do throws(UIOError) {
                try line.disable()
            } catch {
                throw DriverError.device(error, while: "masking the interrupt")
            }
            if let callbackError {
                throw DriverError(.callbackFailed, "EvtInterruptDisable failed: \(callbackError)", callbackError: callbackError)
            }
        }
    }

    /// `WdfInterruptReportActive`: the device's interrupt is expected again; unmasks the line.
    public func reportActive() throws(DriverError) {
        let line = try connectedLine("WdfInterruptReportActive")
        try lock.withLock("WdfInterruptReportActive") { () throws(DriverError) in
            active = true
            guard enabled else { return }
            do throws(UIOError) { try line.enable() } catch { throw DriverError.device(error, while: "unmasking the interrupt") }
        }
    }

    /// `WdfInterruptReportInactive`: the device will raise no interrupt (it is in a low-power
    /// state); masks the line without calling the disable callback.
    public func reportInactive() throws(DriverError) {
        let line = try connectedLine("WdfInterruptReportInactive")
        maskRequests.add(1, ordering: .relaxed)
        defer { maskRequests.subtract(1, ordering: .relaxed) }
        try lock.withLock("WdfInterruptReportInactive") { () throws(DriverError) in
            active = false
            do throws(UIOError) { try line.disable() } catch { throw DriverError.device(error, while: "masking the interrupt") }
        }
    }

    /// Whether the interrupt is enabled (between ``enable()`` and ``disable()``).
    public var isEnabled: Bool { synchronize { _ in enabled } }

    // MARK: - Information

    /// `WdfInterruptGetInfo`.
    public var info: InterruptInfo {
        let uio = device.resources.device
        return InterruptInfo.describe(uio, kernel: KernelIRQ.read(for: uio))
    }

    /// The counts of wake-ups, interrupts, recognized and unrecognized ISR calls, DPC runs.
    /// Atomic loads only: cheap enough to poll.
    public var statistics: InterruptStatistics {
        InterruptStatistics(
            wakeUps: counters.wakeUps.load(ordering: .acquiring),
            interrupts: counters.interrupts.load(ordering: .relaxed),
            coalesced: counters.coalesced.load(ordering: .relaxed),
            recognized: counters.recognized.load(ordering: .relaxed),
            unrecognized: counters.unrecognized.load(ordering: .relaxed),
            dpcRuns: counters.dpcRuns.load(ordering: .relaxed),
            workItemRuns: counters.workItemRuns.load(ordering: .relaxed),
            rearmFailures: counters.rearmFailures.load(ordering: .relaxed),
            lastCount: counters.lastCount.load(ordering: .relaxed))
    }

    /// The interrupt events as an `AsyncSequence`, for Swift-concurrency code that wants to
    /// follow them. A convenience beside the ISR, never instead of it: the ISR has already run
    /// for each event delivered here, and a slow reader loses the oldest events beyond
    /// `bufferingNewest`. The stream finishes when the interrupt disconnects.
    public func events(bufferingNewest limit: Int = 256) -> AsyncStream<InterruptEvent> {
        let (stream, continuation) = AsyncStream<InterruptEvent>.makeStream(bufferingPolicy: .bufferingNewest(limit))
        let key = connection.withLock { state in
            defer { state.nextSubscriber += 1 }
            return state.nextSubscriber
        }
        subscribers.withLock { $0[key] = continuation }
        subscriberCount.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            if self.subscribers.withLock({ $0.removeValue(forKey: key) }) != nil {
                self.subscriberCount.subtract(1, ordering: .relaxed)
            }
        }
        return stream
    }

    // MARK: - Connection (driven by the device's D0 entry and exit)

    private func connectedLine(_ operation: String) throws(DriverError) -> InterruptLine {
        guard let line = connection.withLock({ $0.line }) else {
            throw DriverError(.invalidDeviceState, "\(operation): the interrupt is not connected (the device is not in D0)")
        }
        return line
    }

    private var threadPrefix: String { "uio\(device.resources.device.number)" }
}

extension Interrupt: ConnectableInterrupt {
    func connect() throws(DriverError) {
        let line: InterruptLine
        do throws(UIOError) {
            line = try device.resources.interruptLine(reArm: nil)
        } catch {
            throw DriverError.device(error, while: "opening the interrupt line")
        }
        let serialization = serializationLock
        let parent = self.parent
        let counters = self.counters
        var dpc: DeferredCallWorker?
        var workItem: DeferredCallWorker?
        do throws(DriverError) {
            if let routine = config.dpc {
                dpc = try DeferredCallWorker(name: "\(threadPrefix)-dpc") { [unowned self] in
                    counters.dpcRuns.add(1, ordering: .relaxed)
                    Self.runSerialized(serialization, "automatic serialization (DPC)") { routine(self, parent) }
                }
            }
            if let routine = config.workItem {
                workItem = try DeferredCallWorker(name: "\(threadPrefix)-work") { [unowned self] in
                    counters.workItemRuns.add(1, ordering: .relaxed)
                    Self.runSerialized(serialization, "automatic serialization (work item)") { routine(self, parent) }
                }
            }
            stopping.store(false, ordering: .relaxed)
            connection.withLock { state in
                state.line = line
                state.dpc = dpc
                state.workItem = workItem
            }
            let thread = try startThread(name: "\(threadPrefix)-isr") { [self] in serviceLoop(line) }
            connection.withLock { $0.isrThread = thread }
        } catch {
            dpc?.stop()
            workItem?.stop()
            connection.withLock { $0 = Connection(nextSubscriber: $0.nextSubscriber) }
            line.close()
            throw error
        }
    }

    func disconnect() {
        let state = connection.withLock { state in
            defer { state = Connection(nextSubscriber: state.nextSubscriber) }
            return state
        }
        guard let line = state.line else { return }
        // Wake the ISR thread and wait for an ISR call under way: UMDF's first flush.
        stopping.store(true, ordering: .releasing)
        try? line.cancel()
        if let thread = state.isrThread, !thread.isCurrent { thread.join() }
        // Let queued deferred work finish and refuse more: the second flush.
        state.dpc?.stop()
        state.workItem?.stop()
        line.close()
        let continuations = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        subscriberCount.store(0, ordering: .relaxed)
        continuations.forEach { $0.finish() }
    }

    func powerUp() throws(DriverError) { try enable() }

    func powerDown() {
        try? disable()
        if config.reportInactiveOnPowerDown == .yes { try? reportInactive() }
    }

    var isCallbackThread: Bool {
        let (isr, dpc, workItem) = connection.withLock { ($0.isrThread, $0.dpc, $0.workItem) }
        return (isr?.isCurrent ?? false) || (dpc?.isCurrentThread ?? false) || (workItem?.isCurrentThread ?? false)
    }

    var isLockHeldByCurrentThread: Bool { lock.isHeldByCurrentThread }

    private static func runSerialized(_ lock: DriverLock?, _ operation: StaticString, _ body: () -> Void) {
        guard let lock else { return body() }
        lock.withLock(operation, body)
    }

    /// The ISR thread: wait, lock, ISR, re-arm, unlock — until stopped or the device is gone.
    /// A re-arm that fails leaves the line masked: the thread then wakes on a timer to retry it.
    private func serviceLoop(_ line: InterruptLine) {
        let isr = config.isr!
        var retry = ReArmRetry()
        while true {
            let outcome: InterruptWait
            do throws(UIOError) {
                outcome = try line.wait(timeout: retry.delay)
            } catch {
                if error.code == .closed || stopping.load(ordering: .acquiring) { return }
                // uio_read's EIO / uio_poll's EPOLLERR: the device is gone. Report it and end.
                device.reportFailure(error)
                return
            }
            let event: InterruptEvent
            switch outcome {
            case .interrupt(let delivered):
                event = delivered
            case .timedOut:
                // Only a pending retry sets a timeout.
                lock.acquire("the ISR thread's re-arm retry")
                let rearmError = rearmIfNeeded(line)
                lock.release("the ISR thread's re-arm retry")
                guard settle(rearmError, line: line, retry: &retry) else { return }
                continue
            case .cancelled:
                if stopping.load(ordering: .acquiring) { return }
                continue
            }
            lock.acquire("the ISR")
            self.event = event
            let recognized = isr(self, 0)
            let rearmError = rearmIfNeeded(line)
            lock.release("the ISR")
            counters.wakeUps.add(1, ordering: .releasing)
            counters.interrupts.add(UInt64(event.newInterrupts), ordering: .relaxed)
            counters.coalesced.add(UInt64(event.coalesced), ordering: .relaxed)
            if recognized {
                counters.recognized.add(1, ordering: .relaxed)
            } else {
                counters.unrecognized.add(1, ordering: .relaxed)
            }
            counters.lastCount.store(event.count, ordering: .relaxed)
            if subscriberCount.load(ordering: .relaxed) > 0 {
                subscribers.withLock { $0.values.forEach { _ = $0.yield(event) } }
            }
            guard settle(rearmError, line: line, retry: &retry) else { return }
        }
    }

    /// Re-arms the line unless it is meant to stay masked (disabled, inactive, or a caller is
    /// waiting to mask it). The interrupt lock is held.
    private func rearmIfNeeded(_ line: InterruptLine) -> UIOError? {
        guard enabled && active && maskRequests.load(ordering: .relaxed) == 0 else { return nil }
        do throws(UIOError) { try line.rearm() } catch { return error }
        return nil
    }

    /// Acts on a re-arm's outcome: `false` when the thread must end (the device is gone).
    private func settle(_ rearmError: UIOError?, line: InterruptLine, retry: inout ReArmRetry) -> Bool {
        guard let rearmError else {
            // Armed again, or left masked on purpose (then `enable()` unmasks it). A masking
            // caller still waiting keeps the retry due, so the line is not left masked for good.
            if maskRequests.load(ordering: .relaxed) == 0 { retry.ended() }
            return true
        }
        counters.rearmFailures.add(1, ordering: .relaxed)
        if rearmError.code == .deviceRemoved {
            device.reportFailure(rearmError)
            return false
        }
        if retry.failed() {
            config.reArmFailed?(self, .reArmFailed(rearmError, method: line.reArmMethod, devicePath: line.device.devicePath))
        }
        return true
    }
}

/// What the device needs of each interrupt, whatever its context type.
protocol ConnectableInterrupt: AnyObject, Sendable {
    /// Opens the line and starts the ISR, DPC and work-item threads.
    func connect() throws(DriverError)
    /// Stops the threads (waiting for callbacks under way) and closes the line. Idempotent.
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
