import UIO

/// `uioctl watch`: follows a device's interrupt count and rate without claiming it. A second
/// open file sees the same events as the driver's, and reading them acknowledges nothing.
public struct InterruptWatch: Sendable {
    /// One line of the watch.
    public struct Sample: Sendable, Hashable, Codable {
        /// Seconds since the watch began.
        public let elapsed: Double
        /// The device's total count.
        public let count: UInt32
        /// Interrupts in this interval.
        public let interrupts: UInt32
        /// Interrupts per second in this interval.
        public let rate: Double
    }

    /// The device watched.
    public let device: UIODevice

    /// A watch of `device`.
    public init(device: UIODevice) { self.device = device }

    /// Reports a sample every `interval` until `shouldStop` says so or `duration` passes.
    /// `line` is the interrupt line to read; ``openLine()`` makes one.
    public func run(line: InterruptLine, interval: Duration, duration: Duration?, report: (Sample) -> Void) throws(UIOError) {
        let start = ContinuousClock.now
        var last = try device.currentEventCount()
        var intervalStart = start
        while true {
            let now = ContinuousClock.now
            let intervalEnd = intervalStart + interval
            if now >= intervalEnd {
                let count = try device.currentEventCount()
                let seconds = Self.seconds(now - intervalStart)
                report(Sample(elapsed: Self.seconds(now - start), count: count, interrupts: count &- last,
                              rate: seconds > 0 ? Double(count &- last) / seconds : 0))
                last = count
                intervalStart = now
                if let duration, now - start >= duration { return }
                continue
            }
            switch try line.wait(timeout: intervalEnd - now) {
            case .cancelled: return
            case .interrupt, .timedOut: continue
            }
        }
    }

    /// An interrupt line that only watches: no claim, no re-arming.
    public func openLine() throws(UIOError) -> InterruptLine {
        try device.open(exclusive: false).interruptLine(reArm: ReArmMethod.none)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
