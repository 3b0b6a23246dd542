import Logging
import UIOPlatform
import Synchronization
import UIO

/// A framework device object (`WDFDEVICE`) for one claimed UIO device.
///
/// Creating it is WDF's device add: create the interrupts (and queues) then, before
/// ``start()``. ``start()`` runs prepare hardware and D0 entry and connects and enables the
/// interrupts; ``stop()`` runs the same steps backwards and releases the device. If the device is
/// removed while working, the ISR thread sees it and the device runs the surprise-removal
/// sequence on a thread of its own.
public final class Device: FrameworkObject, @unchecked Sendable {
    // @unchecked: `lifecycle` is behind a mutex; `transition` serializes start, stop and removal.

    /// Where the device is in its life.
    public enum State: Sendable, Hashable {
        /// Device add: interrupts and queues may be created.
        case added
        /// `EvtDevicePrepareHardware` is running: interrupts may still be created.
        case preparingHardware
        /// D0 entry, connecting and enabling interrupts.
        case starting
        /// Working (D0, interrupts enabled).
        case working
        /// Disabling interrupts, D0 exit, releasing hardware.
        case stopping
        /// Hardware released; the device is closed. Final.
        case stopped
    }

    /// A device is its own device.
    public var device: Device { self }
    /// The claimed device's resources.
    public let resources: any HardwareResources
    /// The level the device's callbacks run at; decides its lock and what may be serialized.
    public let executionLevel: ExecutionLevel
    /// The Plug and Play and power callbacks.
    public let callbacks: DeviceCallbacks
    /// Where the framework logs the device's events (start, stop, surprise removal, and its
    /// interrupts' re-arm failures and storms), with the device's node as `device` metadata.
    public let logger: Logger
    /// The driver's state for this device, given at device add (WDF's typed context space).
    private let driverContext: (any AnyObject & Sendable)?

    let synchronizationLock: DriverLock
    private let transition: DriverLock
    private let lifecycle = Locked(Lifecycle())
    private let stoppedSignal = ConditionVariable()
    private var stoppedFlag = false
    private var stoppedWaiters: [CheckedContinuation<Void, Never>] = []

    private struct Lifecycle {
        var state = State.added
        var interrupts: [any ConnectableInterrupt] = []
        var queues: [Queue] = []
        var dmaEnablers: [DMAEnabler] = []
        /// The config space through which Bus Master was turned on, from before D0 entry to
        /// after D0 exit.
        var busMaster: ConfigSpace?
        var removal: UIOError?
    }

    /// Device add for `resources` (a claimed `UIOHandle`, or a simulated device in tests).
    /// `context` is the driver's state for the device, reached from every callback through
    /// ``context(as:)``.
    public init(resources: any HardwareResources, context: (any AnyObject & Sendable)? = nil,
                executionLevel: ExecutionLevel = .inheritFromParent, callbacks: DeviceCallbacks = .init(),
                logger: Logger = Logger(label: "swift-uio")) {
        self.resources = resources
        self.driverContext = context
        self.executionLevel = executionLevel == .passive ? .passive : .dispatch
        self.callbacks = callbacks
        let path = resources.name
        var logger = logger
        logger[metadataKey: "device"] = "\(path)"
        self.logger = logger
        self.synchronizationLock = DriverLock(kind: executionLevel == .passive ? .wait : .spin, name: "the device lock of \(path)")
        self.transition = DriverLock(kind: .wait, name: "the start/stop sequence of \(path)")
    }

    /// Claims `uio` (exclusive open) and adds a device for it, with the driver's `context`.
    public convenience init(claiming uio: UIODevice, context: (any AnyObject & Sendable)? = nil,
                            executionLevel: ExecutionLevel = .inheritFromParent, callbacks: DeviceCallbacks = .init(),
                            logger: Logger = Logger(label: "swift-uio")) throws(DriverError) {
        let handle: UIOHandle
        do { handle = try uio.open() } catch { throw DriverError.device(error, while: "claiming the device") }
        self.init(resources: handle, context: context, executionLevel: executionLevel, callbacks: callbacks, logger: logger)
    }

    /// The context given at device add, as `type` (`WdfObjectGetTypedContext`; a driver names
    /// its accessor as pcidrv's `FdoGetData`: `extension Device { var edu: EduDevice { context() } }`).
    ///
    /// Traps, naming both types, when the device was added without a context of that type: a
    /// driver asking for the wrong type has a bug no caller could handle.
    @inline(__always)
    public func context<Context: AnyObject & Sendable>(as type: Context.Type = Context.self) -> Context {
        guard let context = driverContext as? Context else {
            fatalError("Device.context(as: \(Context.self)): the device was added with \(driverContext.map { "a context of type \(Swift.type(of: $0))" } ?? "no context")")
        }
        return context
    }

    /// Where the device is in its life.
    public var state: State { lifecycle.withLock { $0.state } }

    /// Why the device went away, if it was surprise-removed (or failed) rather than stopped.
    public var removalReason: UIOError? { lifecycle.withLock { $0.removal } }

    // MARK: - Start and stop

    /// Prepare hardware, D0 entry, connect and enable the interrupts. On failure everything
    /// done so far is undone, the device is released, and the error says which step failed.
    public func start() throws(DriverError) {
        try transition.withLock("Device.start") { () throws(DriverError) in
            let state = lifecycle.withLock { $0.state }
            guard state == .added else {
                throw DriverError(.invalidDeviceState, "start: the device is \(state), not freshly added")
            }
            setState(.preparingHardware)
            do {
                try callbacks.prepareHardware?(self, resources)
            } catch {
                tearDown(from: .preparingHardware)
                throw DriverError(.callbackFailed, "EvtDevicePrepareHardware failed: \(error)", callbackError: error)
            }
            setState(.starting)
            do throws(DriverError) {
                try enableBusMastering()
            } catch {
                tearDown(from: .preparingHardware)
                throw error
            }
            do {
                try callbacks.d0Entry?(self)
            } catch {
                tearDown(from: .preparingHardware)
                throw DriverError(.callbackFailed, "EvtDeviceD0Entry failed: \(error)", callbackError: error)
            }
            do throws(DriverError) {
                for interrupt in interrupts { try interrupt.connect() }
                for interrupt in interrupts { try interrupt.powerUp() }
            } catch {
                tearDown(from: .working)
                throw error
            }
            // A removal no interrupt line reports (a device without an interrupt object) reaches
            // the driver the same way, from the handle's removal watcher.
            if interrupts.isEmpty {
                do throws(UIOError) {
                    try resources.watchForRemoval()
                } catch {
                    tearDown(from: .working)
                    throw DriverError.device(error, while: "watching for the device's removal")
                }
            }
            setState(.working)
            logger.debug("started")
            let node = resources.name
            resources.liveness.whenRemoved { [weak self] in
                self?.reportFailure(UIOError(.deviceRemoved, subject: node, reason: "the kernel unregistered the device",
                                             advice: "it was unbound or unplugged; stop using it and rediscover"))
            }
        }
    }

    /// Disable the interrupts, D0 exit, release hardware and the device. Returns when no
    /// callback of the device or its interrupts is running or can run again. Idempotent.
    ///
    /// From the surprise-removal, D0-exit or release-hardware callback it returns at once: the
    /// stop under way finishes when the callback returns. It traps, naming the rule, where it
    /// would wait for itself: on the device's ISR, DPC or work-item thread, in a queue's work,
    /// holding the interrupt, device or queue lock, or in a start callback (throw from it instead).
    public func stop() {
        if let rule = stopWouldWaitForItself() {
            fatalError("Device.stop() called \(rule) would wait for itself")
        }
        if transition.isHeldByCurrentThread {
            switch lifecycle.withLock({ $0.state }) {
            case .added, .preparingHardware, .starting:
                fatalError("Device.stop() called from a start callback would wait for itself; throw from the callback to fail start()")
            default:
                return  // surprise removal, D0 exit or release hardware: the stop under way finishes
            }
        }
        transition.withLock("Device.stop") {
            let state = lifecycle.withLock { $0.state }
            switch state {
            case .stopped: return
            case .added: tearDown(from: .added)
            default: tearDown(from: .working)
            }
        }
    }

    /// Why a stop on the calling thread could never finish, or `nil`.
    private func stopWouldWaitForItself() -> String? {
        let interrupts = self.interrupts
        if interrupts.contains(where: \.isCallbackThread) {
            return "from the device's own ISR, DPC or work item (stop from another thread)"
        }
        if interrupts.contains(where: \.isLockHeldByCurrentThread) { return "holding the interrupt lock" }
        if synchronizationLock.isHeldByCurrentThread { return "holding the device lock" }
        if lifecycle.withLock({ $0.queues }).contains(where: \.isBusyOnCurrentThread) {
            return "from a queue's work, or holding its lock,"
        }
        return nil
    }

    /// Blocks until the device has stopped (by ``stop()`` or after a surprise removal), or
    /// `timeout` runs out. Returns whether it stopped.
    @discardableResult
    public func waitUntilStopped(timeout: Duration? = nil) -> Bool {
        stoppedSignal.withLock {
            while !stoppedFlag {
                if let timeout {
                    if !stoppedSignal.wait(timeout: timeout) { return stoppedFlag }
                } else {
                    stoppedSignal.wait()
                }
            }
            return true
        }
    }

    /// Suspends until the device has stopped (by ``stop()`` or after a surprise removal): the
    /// asynchronous ``waitUntilStopped(timeout:)``, for a service's `run`.
    public func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = stoppedSignal.withLock {
                if !stoppedFlag { stoppedWaiters.append(continuation) }
                return stoppedFlag
            }
            if alreadyStopped { continuation.resume() }
        }
    }

    /// For a process about to exit without stopping the device (a second SIGTERM during a stop
    /// that hangs in a driver's callback): turns Bus Master off, so the device starts no DMA into
    /// memory the process is about to give back. The kernel turns it off when the device's files
    /// close (uio_pci_generic's release, vfio-pci's), but an exiting process gives back its memory
    /// before it closes its files. Runs no callback and waits for no lock a callback holds; the
    /// device is not usable afterwards. Returns whether Bus Master is off (or
    /// was never turned on by this device).
    @discardableResult
    public func prepareForImmediateExit() -> Bool {
        guard let configSpace = lifecycle.withLock({ $0.busMaster }) else { return true }
        if resources.liveness.isRemoved { return true }
        do {
            try configSpace.updateCommand { $0 &= ~ConfigSpace.busMasterBit }
            return true
        } catch {
            logger.error("turning Bus Master off before exiting failed: \(error)")
            return false
        }
    }

    // MARK: - The device lock (WdfObjectAcquireLock)

    /// `WdfObjectAcquireLock` on the device: the lock automatic serialization takes around the
    /// DPCs and work items of interrupts parented to the device.
    public func acquireLock() { synchronizationLock.acquire("WdfObjectAcquireLock") }

    /// `WdfObjectReleaseLock` on the device.
    public func releaseLock() { synchronizationLock.release("WdfObjectReleaseLock") }

    /// Runs `body` holding the device lock.
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try synchronizationLock.withLock("WdfObjectAcquireLock", body)
    }

    // MARK: - Children

    private var interrupts: [any ConnectableInterrupt] { lifecycle.withLock { $0.interrupts } }

    /// Called by ``Interrupt/init(parent:config:context:)``: gives the interrupt the device's
    /// next vector, through `assign`, before another thread can see the interrupt.
    func attach(_ interrupt: any ConnectableInterrupt, assign: (Int) -> Void) throws(DriverError) {
        let vectors = resources.interruptVectorCount
        try lifecycle.withLock { (state: inout Lifecycle) throws(DriverError) in
            guard state.state == .added || state.state == .preparingHardware else {
                throw DriverError(.invalidDeviceState,
                                  "interrupts are created in device add or EvtDevicePrepareHardware; the device is \(state.state)")
            }
            guard state.interrupts.count < vectors else {
                throw DriverError(.insufficientResources,
                                  vectors == 1
                                      ? "\(resources.name) has one interrupt vector (UIO offers one per device) and it already has an interrupt object"
                                      : "\(resources.name) has \(vectors) interrupt vectors and each already has an interrupt object")
            }
            assign(state.interrupts.count)
            state.interrupts.append(interrupt)
        }
    }

    /// Called by ``DMAEnabler/init(device:config:)``.
    func attach(_ enabler: DMAEnabler) throws(DriverError) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(DriverError) in
            guard state.state == .added || state.state == .preparingHardware else {
                throw DriverError(.invalidDeviceState,
                                  "DMA enablers are created in device add or EvtDevicePrepareHardware; the device is \(state.state)")
            }
            state.dmaEnablers.append(enabler)
        }
    }

    /// Throws unless the device is still to stop.
    func requireAlive(for what: String) throws(DriverError) {
        let state = lifecycle.withLock { $0.state }
        guard state != .stopping && state != .stopped else {
            throw DriverError(.invalidDeviceState, "\(what) while the device lives; it is \(state)")
        }
    }

    /// The config space Bus Master was turned on through, while it is on.
    var busMasterConfigSpace: ConfigSpace? { lifecycle.withLock { $0.busMaster } }

    /// Before D0 entry, for a PCI device with a DMA enabler or message-signalled interrupts:
    /// Bus Master on.
    private func enableBusMastering() throws(DriverError) {
        let (enablers, interrupts) = lifecycle.withLock { ($0.dmaEnablers, $0.interrupts) }
        let messages = !interrupts.isEmpty && resources.interruptsNeedBusMastering
        guard !enablers.isEmpty || messages, resources.parent?.pci != nil else { return }
        do {
            let configSpace = try resources.configSpace()
            try configSpace.acquireBusMastering()
            lifecycle.withLock { $0.busMaster = configSpace }
            let losses = configSpace.busMasterLossCount
            for enabler in enablers { enabler.busMasteringStarted(lossCount: losses) }
        } catch {
            let status: DriverError.Status = error.code == .permissionDenied ? .accessDenied : .deviceError
            throw DriverError(status, "turning Bus Master on for DMA: \(error)", underlying: error)
        }
    }

    /// After D0 exit: Bus Master off, so the device starts no more DMA into buffers about to be
    /// freed. Whether it is off: a device the kernel removed had it turned off by the kernel
    /// (`pci_disable_device` at unbind), and is not touched — after a rebind it may be another
    /// driver's.
    private func disableBusMastering() -> Bool {
        guard let configSpace = lifecycle.withLock({ $0.busMaster }) else { return true }
        defer {
            configSpace.close()
            lifecycle.withLock { $0.busMaster = nil }
        }
        if resources.liveness.isRemoved {
            configSpace.abandonBusMastering()
            return true
        }
        do {
            if try configSpace.releaseBusMastering() { return true }
            logger.error("Bus Master stays on for another holder of \(resources.name) in this process, so this device's DMA buffers are never freed")
            return false
        } catch {
            logger.error("turning Bus Master off failed, so the DMA buffers are never freed: \(error)")
            return false
        }
    }

    /// Called by ``Queue/init(device:executionLevel:)``.
    func attach(_ queue: Queue) throws(DriverError) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(DriverError) in
            guard state.state != .stopped && state.state != .stopping else {
                throw DriverError(.invalidDeviceState, "the device is \(state.state); queues are created while it lives")
            }
            state.queues.append(queue)
        }
    }

    // MARK: - Removal

    /// The ISR thread found the device gone (EIO, EPOLLERR) or failing: run the surprise-removal
    /// sequence on a thread of its own, so the ISR thread can end.
    func reportFailure(_ reason: UIOError) {
        let first = lifecycle.withLock { state in
            guard state.removal == nil else { return false }
            state.removal = reason
            return true
        }
        guard first else { return }
        logger.error("surprise removal: \(reason)")
        do {
            try OSThread.detached(name: "\(resources.threadPrefix)-remove") { [self] in
                transition.withLock("surprise removal") {
                    guard lifecycle.withLock({ $0.state }) == .working else { return }
                    callbacks.surpriseRemoval?(self, reason)
                    tearDown(from: .working)
                }
            }
        } catch {
            // No thread to be had: the driver still hears of it.
            callbacks.surpriseRemoval?(self, reason)
        }
    }

    /// Undoes the start sequence from `reached` downwards; the transition lock is held.
    private func tearDown(from reached: State) {
        setState(.stopping)
        if reached == .working {
            for interrupt in interrupts { interrupt.powerDown() }
            for interrupt in interrupts { interrupt.disconnect() }
            callbacks.d0Exit?(self)
        }
        let busMasterOff = disableBusMastering()
        let queues = lifecycle.withLock { $0.queues }
        for queue in queues { queue.stop() }
        if reached != .added { callbacks.releaseHardware?(self) }
        resources.close()
        // The children keep their device; the stopped device lets go of its children, the DMA
        // buffers last, with Bus Master off and the device released.
        let enablers = lifecycle.withLock { state in
            state.interrupts.removeAll()
            state.queues.removeAll()
            defer { state.dmaEnablers.removeAll() }
            return state.dmaEnablers
        }
        for enabler in enablers { enabler.releaseBuffers(busMasterOff: busMasterOff) }
        setState(.stopped)
        logger.debug("stopped", metadata: removalReason.map { ["removal": "\($0)"] } ?? [:])
        let waiters = stoppedSignal.withLock {
            stoppedFlag = true
            stoppedSignal.broadcast()
            defer { stoppedWaiters.removeAll() }
            return stoppedWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func setState(_ state: State) { lifecycle.withLock { $0.state = state } }
}
