#if canImport(Glibc)
import Glibc
#endif

/// A fixed-seed generator (splitmix64): every run resamples the same way.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A ratio of swift-uio to a baseline, one per round, summarized as the median of the rounds
/// with a bootstrap 95% interval (resampling rounds, fixed seed).
struct RoundRatio {
    let perRound: [Double]
    let median: Double
    let low: Double
    let high: Double
    /// Whether a low ratio is suspicious: the baseline is meant to be the same work done in C.
    let flagsLowRatio: Bool

    /// Below this the baseline is doing more than the framework: it is probably not the same work.
    static let suspectBelow = 0.9

    init(subject: [Double], baseline: [Double], flagsLowRatio: Bool = true, seed: UInt64 = 0x0014_B007) {
        self.flagsLowRatio = flagsLowRatio
        let ratios = zip(subject, baseline).map { $0 / $1 }
        perRound = ratios
        median = percentile(ratios.sorted(), 50)
        var generator = SeededGenerator(seed: seed)
        var medians: [Double] = []
        if !ratios.isEmpty {
            for _ in 0..<2000 {
                let resample = (0..<ratios.count).map { _ in ratios[Int(generator.next() % UInt64(ratios.count))] }
                medians.append(percentile(resample.sorted(), 50))
            }
        }
        medians.sort()
        low = percentile(medians, 2.5)
        high = percentile(medians, 97.5)
    }

    var isSuspect: Bool { flagsLowRatio && median < Self.suspectBelow }

    /// "1.23x [1.10, 1.31]", with the flag when it applies.
    var text: String {
        format(median) + "x [" + format(low) + ", " + format(high) + "]" + (isSuspect ? "  baseline suspect" : "")
    }

    var json: String {
        "{\"median\": \(format(median, decimals: 3)), \"ci95_low\": \(format(low, decimals: 3)), "
            + "\"ci95_high\": \(format(high, decimals: 3)), \"rounds\": \(perRound.count), \"baseline_suspect\": \(isSuspect), "
            + "\"per_round\": [" + perRound.map { format($0, decimals: 3) }.joined(separator: ", ") + "]}"
    }
}

/// p50, p99, p99.9 and max of samples.
struct Spread {
    let p50, p99, p999, max: Double
    let count: Int

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        p50 = percentile(sorted, 50)
        p99 = percentile(sorted, 99)
        p999 = percentile(sorted, 99.9)
        max = sorted.last ?? .nan
        count = sorted.count
    }

    var json: String {
        guard count > 0 else { return "null" }
        return "{\"samples\": \(count), \"p50_ns\": \(whole(p50)), \"p99_ns\": \(whole(p99)), \"p999_ns\": \(whole(p999)), \"max_ns\": \(whole(max))}"
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// Whole nanoseconds: "8546", or "-" for no figure.
func whole(_ value: Double) -> String { value.isFinite ? String(Int(value.rounded())) : "-" }

/// What else shaped a run: this process's nice value and the load average when it started.
struct RunConditions {
    let nice: Int32
    let loadAverage: String

    init() {
        errno = 0
        nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        loadAverage = (readFile("/proc/loadavg") ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }

    var text: String { "nice \(nice), load average \(loadAverage)" }
    var json: String { "{\"nice\": \(nice), \"load_average\": \"\(loadAverage)\"}" }
}
