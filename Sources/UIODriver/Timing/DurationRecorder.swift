import Synchronization

/// Records durations into a ``DurationHistogram``'s buckets from any thread: one relaxed atomic
/// add per value (and a compare-exchange when it is a new maximum), into storage allocated once.
final class DurationRecorder: @unchecked Sendable {
    // @unchecked: `counts` is allocated in init, freed in deinit, and only reached atomically.
    private static let subBucketBits = 4
    private static let subBuckets = 1 << subBucketBits
    /// Powers of two up to 2^47 ns; the last bucket holds everything from 31 × 2^43 ns (about
    /// 76 hours) up.
    private static let largestExponent = 47
    static let bucketCount = subBuckets + (largestExponent - subBucketBits + 1) * subBuckets

    private let counts: UnsafeMutablePointer<Atomic<UInt64>>
    private let maximum = Atomic<UInt64>(0)

    init() {
        counts = .allocate(capacity: Self.bucketCount)
        for index in 0..<Self.bucketCount { (counts + index).initialize(to: Atomic(0)) }
    }

    deinit {
        counts.deinitialize(count: Self.bucketCount)
        counts.deallocate()
    }

    /// Adds one value.
    @inline(__always)
    func record(nanoseconds value: UInt64) {
        counts[Self.bucket(of: value)].add(1, ordering: .relaxed)
        var seen = maximum.load(ordering: .relaxed)
        while value > seen {
            let (exchanged, current) = maximum.compareExchange(expected: seen, desired: value, ordering: .relaxed)
            if exchanged { break }
            seen = current
        }
    }

    /// The buckets as they are now (values recorded meanwhile may or may not be in it).
    var histogram: DurationHistogram {
        var buckets: [DurationHistogram.Bucket] = []
        for index in 0..<Self.bucketCount {
            let count = counts[index].load(ordering: .relaxed)
            guard count > 0 else { continue }
            let (lower, upper) = Self.bounds(of: index)
            buckets.append(DurationHistogram.Bucket(lowerNanoseconds: lower, upperNanoseconds: upper, count: count))
        }
        return DurationHistogram(buckets: buckets, maxNanoseconds: maximum.load(ordering: .relaxed))
    }

    /// The bucket of `value`: the value itself below 16; else 16 per power of two, picked by the
    /// four bits after the leading one.
    @inline(__always)
    static func bucket(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        if exponent > largestExponent { return bucketCount - 1 }
        let mantissa = Int(value >> UInt64(exponent - subBucketBits))  // 16...31
        return subBuckets + (exponent - subBucketBits) * subBuckets + mantissa - subBuckets
    }

    /// The smallest and largest value bucket `index` holds.
    static func bounds(of index: Int) -> (lower: UInt64, upper: UInt64) {
        if index < subBuckets { return (UInt64(index), UInt64(index)) }
        let exponent = (index - subBuckets) / subBuckets + subBucketBits
        let mantissa = UInt64(subBuckets + (index - subBuckets) % subBuckets)
        let lower = mantissa << UInt64(exponent - subBucketBits)
        let upper = index == bucketCount - 1 ? UInt64.max : ((mantissa + 1) << UInt64(exponent - subBucketBits)) - 1
        return (lower, upper)
    }
}
