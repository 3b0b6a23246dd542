import UIOPlatform
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A device's interrupt as the UIO core delivers it: `/dev/uioN`'s 4-byte read protocol.
///
/// The line has its own open file on the device (the kernel counts events per open file), an
/// eventfd that wakes a blocked ``wait(timeout:)`` from any thread, and the re-arm method
/// the bound kernel driver needs. The kernel paths, each handled once here:
/// - `read` returns the total count once it differs from what this file last saw;
/// - `poll` reports `POLLERR` and `read` fails with `EIO` once the device is unregistered:
///   ``UIOError/Code/deviceRemoved``;
/// - `write` without an irqcontrol fails with `ENOSYS`: for a PCI parent the line falls back to
///   the Interrupt Disable bit, otherwise ``UIOError/Code/irqControlUnsupported``;
/// - `EINTR` from either is retried.
public final class InterruptLine: Sendable {
    /// The device as discovery described it.
    public let device: UIODevice
    private let interruptFD: SharedDescriptor
    private let waiting: WakeableWait
    private let config: ConfigSpace?
    private let method: Atomic<UInt8>
    private let lastCount: Atomic<UInt32>

    /// A line on its own file of the claimed device; the claim lives as long as the line.
    convenience init(claim: DeviceClaim, reArm: ReArmMethod?, liveness: DeviceLiveness) throws(UIOError) {
        let device = claim.device
        let system = claim.system
        let method = reArm ?? ReArmMethod.detect(for: device)
        var config: ConfigSpace?
        if let parent = device.parent, parent.pci != nil {
            do {
                config = try ConfigSpace(path: parent.sysPath + "/config", system: system)
            } catch where method != .pciInterruptDisableBit {
                config = nil  // only needed as a fallback after ENOSYS
            }
        } else if method == .pciInterruptDisableBit {
            throw UIOError(.notPCIDevice, subject: device.devicePath, reason: "re-arming through the Interrupt Disable bit needs a PCI parent")
        }
        let (fd, baseline): (Int32, UInt32)
        do throws(UIOError) {
            (fd, baseline) = try claim.openCounting()
        } catch {
            config?.close()
            throw error
        }
        try self.init(device: device, fd: fd, baseline: baseline, reArm: method, config: config, system: system, liveness: liveness,
                      keepingAlive: claim)
    }

    /// Takes ownership of `fd`, an open interrupt file whose count starts at `baseline`; `owner`
    /// lives as long as the line.
    package init(device: UIODevice, fd: Int32, baseline: UInt32, reArm: ReArmMethod, config: ConfigSpace?, system: SystemCalls,
                liveness: DeviceLiveness = DeviceLiveness(), keepingAlive owner: (any AnyObject & Sendable)? = nil) throws(UIOError) {
        let interruptFD = SharedDescriptor(fd: fd, path: device.devicePath, system: system)
        guard reArm != .vfioUnmask else {
            interruptFD.close()
            throw UIOError(.irqControlUnsupported, subject: device.devicePath, reason: "VFIO's unmask re-arms a VFIO interrupt, not a UIO line")
        }
        do throws(Errno) {
            waiting = try WakeableWait(name: device.devicePath, system: system)
        } catch {
            throw UIOError.system(error, operation: .other, subject: device.devicePath)
        }
        self.device = device
        self.interruptFD = interruptFD
        self.config = config
        self.method = Atomic(Self.encode(reArm))
        self.lastCount = Atomic(baseline)
        self.liveness = liveness
        self.owner = owner
    }

    /// What must live as long as the line (the device's claim).
    private let owner: (any AnyObject & Sendable)?

    /// Whether the device is still there; set when the kernel reports it gone.
    public let liveness: DeviceLiveness

    /// The re-arm method in use (it changes once, from irqcontrol to the Interrupt Disable bit,
    /// if the driver turns out to have no irqcontrol).
    public var reArmMethod: ReArmMethod { Self.decode(method.load(ordering: .relaxed)) }

    /// Blocks until an interrupt arrives, `timeout` runs out, or ``cancel()`` is called. An
    /// interrupt that has arrived is returned before a cancel, which then ends the next wait.
    ///
    /// Throws ``UIOError/Code/deviceRemoved`` once the device is gone and
    /// ``UIOError/Code/closed`` after ``close()``.
    public func wait(timeout: Duration? = nil) throws(UIOError) -> InterruptWait {
        let deadline = timeout.flatMap(clampedDeadline(after:))
        return try interruptFD.withDescriptor { fd throws(UIOError) in
            let system = interruptFD.system
            while true {
                // An interrupt the kernel already counted comes before a cancel (the wait's rule),
                // so a stop never drops one the kernel saw, and a storm cannot hold a cancel off.
                let events: Int16
                switch try UIOError.waiting(on: device.devicePath, { () throws(WakeableWait.Failure) in
                    try waiting.wait(on: fd, until: deadline)
                }) {
                case .woken: return .cancelled
                case .timedOut: return .timedOut
                case .ready(let ready): events = ready
                }
                // uio_poll: EPOLLERR once the device is unregistered, and for a device without
                // an interrupt; uio_write tells them apart (EINVAL without info, EIO without irq).
                if events & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                    if case .failure(let errno) = system.writeControl(fd, 0),
                       UIOError.code(for: .interruptControl, errno: errno).code == .irqControlUnsupported {
                        throw UIOError(.irqControlUnsupported, subject: device.devicePath,
                                       reason: "the device has no interrupt (uio_poll reports POLLERR for it)",
                                       advice: "a driver of this device polls its registers instead of waiting")
                    }
                    throw removed(errno: nil)
                }
                guard events & Int16(POLLIN) != 0 else { continue }
                // uio_read: the total count, or EIO once the device is unregistered.
                switch retryingOnInterrupt({ system.readCount(fd) }) {
                case .success(let count):
                    let previous = lastCount.exchange(count, ordering: .relaxed)
                    return .interrupt(InterruptEvent(count: count, newInterrupts: count &- previous))
                case .failure(let errno): throw failure(errno, operation: .readCount)
                }
            }
        }
    }

    /// Wakes the thread blocked in ``wait(timeout:)``; if none is waiting, the next wait returns
    /// ``InterruptWait/cancelled`` at once. Safe from any thread; never closes the fd.
    public func cancel() throws(UIOError) {
        try UIOError.waiting(on: device.devicePath, operation: .other) { () throws(WakeableWait.Failure) in try waiting.wake() }
    }

    /// Enables the interrupt again after one was delivered, the way the bound driver needs.
    public func rearm() throws(UIOError) { try enable() }

    /// Unmasks the interrupt at the device: irqcontrol `write(1)`, or clear the Interrupt
    /// Disable bit.
    public func enable() throws(UIOError) { try control(enable: true) }

    /// Masks the interrupt at the device: irqcontrol `write(0)`, or set the Interrupt Disable bit.
    public func disable() throws(UIOError) { try control(enable: false) }

    /// Wakes any waiter and releases the line's files once it has left. Closing twice is harmless.
    public func close() {
        if interruptFD.close() {
            waiting.close()
            config?.close()
        }
    }

    private func control(enable: Bool) throws(UIOError) {
        switch reArmMethod {
        case .none:
            return
        case .vfioUnmask:
            return  // refused at init
        case .pciInterruptDisableBit:
            try pciConfig().setInterruptDisabled(!enable)
        case .irqControl:
            let result = try interruptFD.withDescriptor { fd in
                retryingOnInterrupt { interruptFD.system.writeControl(fd, enable ? 1 : 0) }
            }
            switch result {
            case .success:
                return
            case .failure(.noFunction) where config != nil:
                // uio_write: no irqcontrol. A PCI device can still be masked at the device.
                method.store(Self.encode(.pciInterruptDisableBit), ordering: .relaxed)
                try pciConfig().setInterruptDisabled(!enable)
            case .failure(.noFunction):
                throw UIOError(.irqControlUnsupported, subject: device.devicePath,
                               reason: "the bound driver (\(device.parent?.driver ?? "unknown")) has no irqcontrol", errno: .noFunction,
                               advice: "its interrupt cannot be masked from userspace; use a driver with irqcontrol, such as uio_pdrv_genirq")
            case .failure(let errno):
                throw failure(errno, operation: .interruptControl)
            }
        }
    }

    private func pciConfig() throws(UIOError) -> ConfigSpace {
        guard let config else {
            throw UIOError(.notPCIDevice, subject: device.devicePath, reason: "has no PCI config space to mask the interrupt in")
        }
        return config
    }

    /// The table's error for `errno`; a removal is also recorded in the liveness.
    private func failure(_ errno: Errno, operation: SystemOperation) -> UIOError {
        guard UIOError.code(for: operation, errno: errno).code != .deviceRemoved else { return removed(errno: errno) }
        return UIOError.system(errno, operation: operation, subject: device.devicePath)
    }

    private func removed(errno: Errno?) -> UIOError {
        liveness.markRemoved()
        return UIOError(.deviceRemoved, subject: device.devicePath, reason: "the device was removed while waiting for an interrupt",
                 errno: errno, advice: "the kernel unregistered it (unbind or hot-unplug); stop using it and rediscover")
    }

    private static func encode(_ method: ReArmMethod) -> UInt8 {
        switch method {
        case .irqControl: 0
        case .pciInterruptDisableBit: 1
        case .none, .vfioUnmask: 2
        }
    }

    private static func decode(_ raw: UInt8) -> ReArmMethod {
        switch raw {
        case 0: .irqControl
        case 1: .pciInterruptDisableBit
        default: .none
        }
    }
}
