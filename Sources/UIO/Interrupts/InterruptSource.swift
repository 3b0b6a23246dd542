/// Where one interrupt vector's interrupts come from, as the driver layer sees it.
///
/// ``InterruptLine`` is UIO's: the one INTx or platform line behind `/dev/uioN`. A backend with
/// message-signalled interrupts hands out one source per vector, each waited on by its own
/// interrupt object. Every method may be called from any thread; ``wait(timeout:)`` from one at
/// a time.
public protocol InterruptSource: AnyObject, Sendable {
    /// What the source is, for messages: `/dev/uio0`.
    var name: String { get }
    /// How the source is enabled again after an interrupt.
    var reArmMethod: ReArmMethod { get }
    /// Blocks until an interrupt arrives, `timeout` runs out, or ``cancel()`` is called. An
    /// interrupt that has arrived comes before a cancel, which then ends the next wait.
    /// Throws ``UIOError/Code/deviceRemoved`` once the device is gone, ``UIOError/Code/closed``
    /// after ``close()``.
    func wait(timeout: Duration?) throws(UIOError) -> InterruptWait
    /// Wakes the thread in ``wait(timeout:)``, or makes the next wait return at once.
    func cancel() throws(UIOError)
    /// Enables the interrupt again after one was delivered.
    func rearm() throws(UIOError)
    /// Unmasks the interrupt at the device.
    func enable() throws(UIOError)
    /// Masks the interrupt at the device; interrupts raised meanwhile stay pending.
    func disable() throws(UIOError)
    /// Whether an interrupt taken from the source but not handled (it arrived as the source was
    /// disabled) is delivered again once the source is enabled: a level line's is, since the
    /// device still asserts it. Where it is not (an edge line, an eventfd), the driver layer
    /// hands it to the ISR itself after enabling.
    var redeliversUnhandledInterrupts: Bool { get }
    /// Whether ``disable()`` stops the source signalling. A maskless MSI vector's does not (VFIO
    /// cannot mask it): the driver layer then holds what it signals instead of handing it to the ISR.
    var canMask: Bool { get }
    /// Wakes any waiter and releases the source's files once it has left. Idempotent.
    func close()
}

extension InterruptLine: InterruptSource {
    /// The device's node: `/dev/uio0`.
    public var name: String { device.devicePath }

    /// A level line: INTx always (uio_pci_generic), a platform line when `/proc/interrupts`
    /// says so. An edge line, or one the kernel does not describe, is not.
    public var redeliversUnhandledInterrupts: Bool {
        if reArmMethod == .pciInterruptDisableBit { return true }
        return KernelIRQ.read(for: device)?.trigger == .level
    }
}

extension InterruptSource {
    /// An edge source: nothing keeps an interrupt pending for it.
    public var redeliversUnhandledInterrupts: Bool { false }

    /// A source masks when disabled.
    public var canMask: Bool { true }
}
