import UIOPlatform
import SystemPackage
import Synchronization

/// One interrupt vector of a VFIO device: an eventfd the kernel adds 1 to per interrupt
/// (`vfio_msihandler`, `vfio_intx_handler`).
///
/// A wait reads the eventfd's 8-byte counter: the interrupts since the last read, so coalescing
/// works as on UIO. MSI and MSI-X vectors are edges that need no re-arm. The INTx line is masked
/// by the kernel at each interrupt and re-armed by one unmask ioctl (UIO needs two config-space
/// accesses).
///
/// VFIO cannot mask one MSI or MSI-X vector (it answers `ENOTTY`). ``disable()`` of an MSI-X
/// vector (or an MSI one with per-vector mask bits) detaches it from its eventfd: the kernel frees
/// its handler, which masks it at the device, and a message raised meanwhile waits in the device's
/// pending bits until ``enable()`` attaches it again. A maskless MSI vector (QEMU's edu) is left
/// attached: detached, its message would be lost (the kernel clears a freed vector's address). What it signals while
/// disabled is held by the interrupt object, never handed to the ISR, and given back at enable.
/// INTx is masked and unmasked by VFIO itself.
public final class VFIOInterruptSource: InterruptSource {
    public let name: String
    public let reArmMethod: ReArmMethod
    /// The vector's number among the index's.
    public let vector: Int
    private let eventfd: SharedDescriptor
    private let waiting: WakeableWait
    private let interrupts: VFIOInterrupts
    private let liveness: DeviceLiveness
    private let total = Atomic<UInt32>(0)
    /// What must live as long as the source: the device's handle.
    private let owner: any AnyObject & Sendable
    /// The INTx unmask, built once: it is made at every interrupt.
    private let unmask: Locked<VFIOArgument>?

    init(vector: Int, interrupts: VFIOInterrupts, liveness: DeviceLiveness, owner: any AnyObject & Sendable) throws(UIOError) {
        let system = interrupts.device.system
        let name = "\(interrupts.name) \(interrupts.index?.description ?? "irq") \(vector)"
        let fd: Int32
        switch system.eventfdCreate() {
        case .success(let created): fd = created
        case .failure(let errno): throw UIOError.system(errno, operation: .other, subject: name)
        }
        let eventfd = SharedDescriptor(fd: fd, path: name, system: system)
        do throws(Errno) {
            waiting = try WakeableWait(name: name, system: system)
        } catch {
            eventfd.close()
            throw UIOError.system(error, operation: .other, subject: name)
        }
        do throws(UIOError) {
            try interrupts.open(vector: vector, eventfd: fd)
        } catch {
            waiting.close()
            eventfd.close()
            throw error
        }
        self.name = name
        self.vector = vector
        self.eventfd = eventfd
        self.interrupts = interrupts
        self.liveness = liveness
        self.owner = owner
        // A removal wakes the ISR thread, which then finds the device gone.
        liveness.whenRemoved { [waiting] in try? waiting.wake() }
        if interrupts.automasked {
            reArmMethod = .vfioUnmask
            unmask = Locked(VFIOIRQSet.argument(flags: VFIOConstant.dataNone | VFIOConstant.actionUnmask, index: .intx, start: 0, count: 1))
        } else {
            reArmMethod = .none
            unmask = nil
        }
    }

    deinit { close() }

    /// The INTx line is level: an interrupt taken but not handled is raised again once unmasked.
    /// A message is not.
    public var redeliversUnhandledInterrupts: Bool { interrupts.automasked }

    /// INTx and vectors that detach mask; a maskless MSI vector does not.
    public var canMask: Bool { interrupts.automasked || interrupts.detachesToDisable }

    public func wait(timeout: Duration?) throws(UIOError) -> InterruptWait {
        let deadline = timeout.flatMap(clampedDeadline(after:))
        return try eventfd.withDescriptor { fd throws(UIOError) in
            while true {
                if liveness.isRemoved { throw removed() }
                switch try UIOError.waiting(on: name, { () throws(WakeableWait.Failure) in try waiting.wait(on: fd, until: deadline) }) {
                case .woken:
                    if liveness.isRemoved { throw removed() }
                    return .cancelled
                case .timedOut: return .timedOut
                case .ready:
                    switch eventfd.system.eventfdRead(fd) {
                    case .success(let raised):
                        let count = UInt32(truncatingIfNeeded: raised)
                        let total = total.add(count, ordering: .relaxed).newValue
                        return .interrupt(InterruptEvent(count: total, newInterrupts: count))
                    case .failure(.resourceTemporarilyUnavailable): continue  // taken already
                    case .failure(let errno): throw UIOError.system(errno, operation: .readCount, subject: name)
                    }
                }
            }
        }
    }

    public func cancel() throws(UIOError) {
        try UIOError.waiting(on: name, operation: .other) { () throws(WakeableWait.Failure) in try waiting.wake() }
    }

    /// INTx: unmask (the kernel masked it at the interrupt). A message: nothing.
    public func rearm() throws(UIOError) {
        guard let unmask else { return }
        try unmask.withLock { (argument: inout VFIOArgument) throws(UIOError) in
            try interrupts.setIRQs(&argument, what: "the INTx unmask")
        }
    }

    /// INTx: unmask. A message: attach the vector to its eventfd again.
    public func enable() throws(UIOError) {
        if unmask != nil { return try rearm() }
        guard interrupts.detachesToDisable else { return }
        try eventfd.withDescriptor { fd throws(UIOError) in try interrupts.reattach(vector: vector, eventfd: fd) }
    }

    /// INTx: mask. A message: detach the vector where that masks it (see the type's notes).
    public func disable() throws(UIOError) {
        if unmask != nil {
            return try interrupts.setIRQs(flags: VFIOConstant.dataNone | VFIOConstant.actionMask, index: .intx, start: 0, count: 1)
        }
        guard interrupts.detachesToDisable else { return }
        try interrupts.detach(vector: vector)
    }

    /// Interrupts read from the eventfd so far.
    public var delivered: UInt32 { total.load(ordering: .relaxed) }

    public func close() {
        if eventfd.close() {
            interrupts.close(vector: vector)
            waiting.close()
        }
    }

    private func removed() -> UIOError {
        UIOError(.deviceRemoved, subject: name, reason: "the device was removed while waiting for an interrupt",
                 advice: "the kernel asked for it back (unbind or hot-unplug); stop using it and rediscover")
    }
}
