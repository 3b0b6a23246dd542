/// The kernel's "nobody cared" check (`note_interrupt`), per interrupt object: when the ISR
/// keeps saying the interrupt was not its device's, the line is masked instead of re-armed, so a
/// level interrupt nobody acknowledges cannot keep the ISR thread spinning forever.
///
/// Counting is the kernel's: each window of ``window`` wake-ups, the guard trips if more than
/// ``unrecognizedLimit`` of them were unrecognized; an unrecognized wake-up more than
/// ``quietReset`` after the previous one starts that count again, so rare spurious interrupts
/// never add up.
public struct StormGuard: Sendable, Hashable {
    /// Wake-ups per window.
    public var window: Int
    /// Unrecognized wake-ups in one window beyond which the guard trips.
    public var unrecognizedLimit: Int
    /// A quiet spell after which the unrecognized count starts again.
    public var quietReset: Duration

    /// The kernel's figures: more than 99,900 of 100,000, with a 100 ms reset.
    public static let kernelDefault = StormGuard(window: 100_000, unrecognizedLimit: 99_900, quietReset: .milliseconds(100))

    public init(window: Int, unrecognizedLimit: Int, quietReset: Duration = .milliseconds(100)) {
        self.window = window
        self.unrecognizedLimit = unrecognizedLimit
        self.quietReset = quietReset
    }
}

/// What the storm guard saw when it masked the line.
public struct InterruptStorm: Sendable, Hashable, CustomStringConvertible {
    /// The interrupt source: `/dev/uio0`.
    public var source: String
    /// Wake-ups in the window that tripped the guard.
    public var wakeUps: Int
    /// Unrecognized wake-ups counted in it.
    public var unrecognized: Int
    /// How long the window took.
    public var duration: Duration
    /// The interrupt object's totals when it tripped.
    public var statistics: InterruptStatistics

    public var description: String {
        "interrupt storm on \(source): the ISR did not recognize \(unrecognized) of \(wakeUps) wake-ups in \(duration); "
            + "the line is masked until the driver calls disable() and enable()"
    }
}

/// The guard's counts. Touched only by the ISR thread.
struct StormGuardCounts {
    let limits: StormGuard
    private var wakeUps = 0
    private var unrecognized = 0
    private var windowStart: ContinuousClock.Instant?
    private var lastUnrecognized: ContinuousClock.Instant?

    init(_ limits: StormGuard) { self.limits = limits }

    /// Counts one wake-up; when it closes a window that trips the guard, the window's figures.
    mutating func record(recognized: Bool) -> (wakeUps: Int, unrecognized: Int, duration: Duration)? {
        if windowStart == nil { windowStart = .now }
        if !recognized {
            let now = ContinuousClock.now
            if let last = lastUnrecognized, now - last > limits.quietReset {
                unrecognized = 1
            } else {
                unrecognized += 1
            }
            lastUnrecognized = now
        }
        wakeUps += 1
        guard wakeUps >= limits.window else { return nil }
        let tripped = unrecognized > limits.unrecognizedLimit
        let figures = (wakeUps: wakeUps, unrecognized: unrecognized, duration: ContinuousClock.now - (windowStart ?? .now))
        wakeUps = 0
        unrecognized = 0
        windowStart = nil
        return tripped ? figures : nil
    }
}
