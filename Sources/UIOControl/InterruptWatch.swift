import UIOPlatform
import UIO

/// `uioctl watch`: follows a device's interrupt count and rate without opening it.
///
/// It samples the sysfs `event` attribute: opening `/dev/uioN` beside a running driver would be
/// harmful, since uio_pci_generic clears Bus Master when a file on the device closes.
public final class InterruptWatch: Sendable {
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
    private let stop = Stop()

    /// A watch of `device`.
    public init(device: UIODevice) { self.device = device }

    /// Reports a sample every `interval` until ``cancel()`` or until `duration` passes.
    public func run(interval: Duration, duration: Duration?, report: (Sample) -> Void) throws(UIOError) {
        let start = ContinuousClock.now
        var last = try device.currentEventCount()
        var intervalStart = start
        while true {
            if stop.sleep(until: intervalStart + interval) { return }
            let now = ContinuousClock.now
            let count = try device.currentEventCount()
            let seconds = Self.seconds(now - intervalStart)
            report(Sample(elapsed: Self.seconds(now - start), count: count, interrupts: count &- last,
                          rate: seconds > 0 ? Double(count &- last) / seconds : 0))
            last = count
            intervalStart = now
            if let duration, now - start >= duration { return }
        }
    }

    /// Ends ``run(interval:duration:report:)`` from any thread (a signal handler's queue, say).
    public func cancel() { stop.cancel() }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A sleep that another thread can end.
private final class Stop: Sendable {
    private let signal = ConditionVariable()
    private let cancelled = Locked(false)

    /// Sleeps until `deadline`; `true` when cancelled instead.
    func sleep(until deadline: ContinuousClock.Instant) -> Bool {
        signal.withLock {
            while !cancelled.withLock({ $0 }) {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return false }
                _ = signal.wait(timeout: left)
            }
            return true
        }
    }

    func cancel() {
        signal.withLock {
            cancelled.withLock { $0 = true }
            signal.broadcast()
        }
    }
}
