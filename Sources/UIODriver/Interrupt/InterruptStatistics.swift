import Synchronization

/// What an interrupt object has seen since it was created.
public struct InterruptStatistics: Sendable, Hashable {
    /// Times the ISR thread woke with interrupts to handle (= ISR calls).
    public var wakeUps: UInt64
    /// Interrupts the kernel counted, including those collapsed into one wake-up.
    public var interrupts: UInt64
    /// Interrupts collapsed into another's wake-up.
    public var coalesced: UInt64
    /// Wake-ups that found the interrupt disabled: taken from the source just before
    /// ``Interrupt/disable()`` and held, without an ISR call, for ``Interrupt/enable()``.
    /// `wakeUps + held + coalesced == interrupts`.
    public var held: UInt64
    /// ISR calls for held interrupts after ``Interrupt/enable()``, on a source that does not
    /// deliver them again itself (an edge line, an eventfd); not counted in ``wakeUps``.
    public var replayed: UInt64
    /// ISR calls that returned `true` (`recognized + unrecognized == wakeUps + replayed`).
    public var recognized: UInt64
    /// ISR calls that returned `false`: someone else's interrupt on a shared line, or spurious.
    public var unrecognized: UInt64
    /// DPC runs started.
    public var dpcRuns: UInt64
    /// Work-item runs started.
    public var workItemRuns: UInt64
    /// Re-arms that failed.
    public var rearmFailures: UInt64
    /// Times the storm guard masked the line.
    public var storms: UInt64
    /// The kernel's total count at the last wake-up.
    public var lastCount: UInt32
}

/// The counters behind ``InterruptStatistics``: relaxed atomics, written by the ISR thread.
final class InterruptCounters: Sendable {
    let wakeUps = Atomic<UInt64>(0)
    let interrupts = Atomic<UInt64>(0)
    let coalesced = Atomic<UInt64>(0)
    let held = Atomic<UInt64>(0)
    let replayed = Atomic<UInt64>(0)
    let recognized = Atomic<UInt64>(0)
    let unrecognized = Atomic<UInt64>(0)
    let rearmFailures = Atomic<UInt64>(0)
    let storms = Atomic<UInt64>(0)
    let dpcRuns = Atomic<UInt64>(0)
    let workItemRuns = Atomic<UInt64>(0)
    let lastCount = Atomic<UInt32>(0)
}
