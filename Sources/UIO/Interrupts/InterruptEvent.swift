/// What one wake-up of the interrupt fd reported.
///
/// The UIO read returns the device's total interrupt count; several interrupts that arrive
/// before the reader wakes collapse into one wake-up, and the difference says how many.
public struct InterruptEvent: Sendable, Hashable {
    /// The device's total interrupt count (wraps at 2³²).
    public let count: UInt32
    /// Interrupts since the previous wake-up of this line (at least 1 in practice).
    public let newInterrupts: UInt32

    /// Interrupts that were collapsed into this wake-up and so not seen on their own.
    public var coalesced: UInt32 { newInterrupts > 0 ? newInterrupts - 1 : 0 }

    /// An event with the kernel's total `count` and the `newInterrupts` since the last one.
    public init(count: UInt32, newInterrupts: UInt32) {
        self.count = count
        self.newInterrupts = newInterrupts
    }
}

/// How a wait on an interrupt line ended.
public enum InterruptWait: Sendable, Hashable {
    /// One or more interrupts arrived.
    case interrupt(InterruptEvent)
    /// The timeout ran out first.
    case timedOut
    /// ``InterruptLine/cancel()`` woke the waiter (or was called before it waited).
    case cancelled
}
