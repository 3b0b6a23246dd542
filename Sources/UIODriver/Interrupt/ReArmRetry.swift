/// The ISR thread's state while the line could not be re-armed: it stays masked at the device,
/// so no interrupt will wake the thread; it tries again after a delay that doubles from
/// ``firstDelay`` to ``longestDelay``.
struct ReArmRetry {
    /// The first retry comes soon: a permission restored by hand is picked up at once.
    static let firstDelay = Duration.milliseconds(1)
    /// Retries go on at this pace while the cause lasts (lockdown does until reboot): cheap, and
    /// quick enough once the cause is removed.
    static let longestDelay = Duration.seconds(1)

    /// How long the thread waits before the next attempt; `nil` while the line is armed.
    private(set) var delay: Duration?

    /// Whether a failure episode is under way.
    var isPending: Bool { delay != nil }

    /// Records a failed attempt; `true` when it begins an episode (the driver hears of it then).
    mutating func failed() -> Bool {
        guard let delay else {
            self.delay = Self.firstDelay
            return true
        }
        self.delay = min(delay * 2, Self.longestDelay)
        return false
    }

    /// The line is armed again, or no longer needs to be: the episode is over.
    mutating func ended() { delay = nil }
}
