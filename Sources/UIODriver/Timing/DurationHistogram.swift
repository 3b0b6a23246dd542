/// A histogram of durations, as an interrupt object records them (``Interrupt/timings``).
///
/// Buckets are log-linear: exact below 16 ns, then 16 per power of two, so a bucket's bounds are
/// within 6.25% of each other; the largest holds everything from about 76 hours up. Percentiles
/// report the upper bound of the bucket they fall in (at most the exact maximum).
public struct DurationHistogram: Sendable, Hashable, CustomStringConvertible {
    /// One bucket with values in it.
    public struct Bucket: Sendable, Hashable {
        /// The smallest value the bucket holds, in nanoseconds.
        public let lowerNanoseconds: UInt64
        /// The largest value the bucket holds, in nanoseconds.
        public let upperNanoseconds: UInt64
        /// How many values fell in it.
        public let count: UInt64
    }

    /// No values.
    static let empty = DurationHistogram(buckets: [], maxNanoseconds: 0)

    /// The buckets that have values, smallest first.
    public let buckets: [Bucket]
    /// The largest value recorded, in nanoseconds; 0 when none was.
    public let maxNanoseconds: UInt64

    /// How many values were recorded.
    public var count: UInt64 { buckets.reduce(0) { $0 + $1.count } }

    /// The value below which `percent` of the values fall; `nil` when nothing was recorded.
    public func percentile(_ percent: Double) -> Duration? {
        let total = count
        guard total > 0 else { return nil }
        let rank = Swift.max(UInt64((Double(total) * Swift.min(Swift.max(percent, 0), 100) / 100).rounded(.up)), 1)
        var seen: UInt64 = 0
        for bucket in buckets {
            seen += bucket.count
            if seen >= rank { return .nanoseconds(Int64(clamping: Swift.min(bucket.upperNanoseconds, maxNanoseconds))) }
        }
        return .nanoseconds(Int64(clamping: maxNanoseconds))
    }

    /// The largest value recorded; `nil` when none was.
    public var max: Duration? { count == 0 ? nil : .nanoseconds(Int64(clamping: maxNanoseconds)) }

    /// `n=1000 p50 1.2 µs p99 3.5 µs p99.9 8.1 µs max 12.0 µs`, or `n=0`.
    public var description: String {
        guard let p50 = percentile(50), let p99 = percentile(99), let p999 = percentile(99.9), let max else { return "n=0" }
        return "n=\(count) p50 \(Self.format(p50)) p99 \(Self.format(p99)) p99.9 \(Self.format(p999)) max \(Self.format(max))"
    }

    /// Microseconds with one decimal, or whole milliseconds from 10 ms up.
    static func format(_ duration: Duration) -> String {
        let nanoseconds = Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
        if nanoseconds >= 10_000_000 { return "\(Int((nanoseconds / 1e6).rounded())) ms" }
        return "\((nanoseconds / 100).rounded() / 10) µs"
    }
}
