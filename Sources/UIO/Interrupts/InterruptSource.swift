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
    /// Gives back `interrupts` the driver layer took from the source but did not handle (they
    /// arrived as it was disabled), so they are delivered again once it is enabled. A source that
    /// keeps an interrupt pending while masked (a level line: the device still asserts it) does
    /// nothing; an edge source (an eventfd) raises them again.
    func redeliver(_ interrupts: UInt32) throws(UIOError)
    /// Wakes any waiter and releases the source's files once it has left. Idempotent.
    func close()
}

extension InterruptLine: InterruptSource {
    /// The device's node: `/dev/uio0`.
    public var name: String { device.devicePath }

    /// Nothing: a UIO line is level-triggered and masked, so the device still asserts what was
    /// not handled and the kernel delivers it again once unmasked.
    public func redeliver(_ interrupts: UInt32) throws(UIOError) {}
}
