import Foundation
import Synchronization
import Testing
import TestSupport
import UIO
@testable import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// The timing histograms: their buckets, and what an interrupt object records in them.
@Suite("Timing histograms")
struct TimingTests {
    @Test("every value lands in a bucket whose bounds hold it, within 6.25% above 16 ns")
    func buckets() {
        var value: UInt64 = 0
        var values: [UInt64] = Array(0...40) + [UInt64.max, 1 << 47, (1 << 48) + 5]
        // A fixed sequence through the range: no randomness in the test.
        while value < 1 << 46 {
            value = value * 3 + 7
            values.append(value)
        }
        for value in values {
            let index = DurationRecorder.bucket(of: value)
            #expect((0..<DurationRecorder.bucketCount).contains(index))
            let (lower, upper) = DurationRecorder.bounds(of: index)
            #expect(lower <= value && value <= upper, "\(value) in [\(lower), \(upper)]")
            if value >= 16 && index < DurationRecorder.bucketCount - 1 {
                #expect(Double(upper - lower + 1) / Double(lower) <= 0.0625 + 1e-12)
            }
        }
    }

    @Test("percentiles are bucket bounds no larger than the exact maximum")
    func percentiles() {
        let recorder = DurationRecorder()
        for value in 1...1_000 { recorder.record(nanoseconds: UInt64(value) * 1_000) }
        let histogram = recorder.histogram
        #expect(histogram.count == 1_000)
        #expect(histogram.max == .microseconds(1_000))
        let p50 = try! #require(histogram.percentile(50))
        #expect(p50 >= .microseconds(500) && p50 <= .nanoseconds(500_000 * 1_0625 / 1_0000))
        #expect(histogram.percentile(100) == .microseconds(1_000))
        #expect(DurationRecorder().histogram.percentile(50) == nil)
        #expect(DurationRecorder().histogram.description == "n=0")
    }

    @Test("the interrupt records each ISR call's duration and each DPC's wait to start")
    func recordedByTheInterrupt() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(
            isr: { interrupt, _ in
                usleep(2_000)  // a slow ISR: at least 2 ms under the lock
                interrupt.queueDPC()
                return true
            },
            dpc: { _, _ in })
        config.recordsTimings = true
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...5 {
            simulated.raise()
            // The ISR's figures are recorded after it releases the lock: wait for its wake-up count too.
            try #require(waitUntil { interrupt.statistics.dpcRuns == raised && interrupt.statistics.wakeUps == UInt64(raised) })
        }
        let timings = interrupt.timings
        #expect(timings.isrDuration.count == 5)
        #expect(try #require(timings.isrDuration.percentile(0)) >= .milliseconds(2))
        #expect(timings.dpcLatency.count == 5)
        #expect(timings.workItemLatency.count == 0)
        #expect(timings.description.contains("ISR duration: n=5"))
    }

    @Test("with recordsTimings off (the default), nothing is recorded")
    func off() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { interrupt, _ in interrupt.queueDPC() }, dpc: { _, _ in })
        config.recordsTimings = false
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        try #require(waitUntil { interrupt.statistics.dpcRuns == 1 && interrupt.statistics.wakeUps == 1 })
        #expect(interrupt.timings.isrDuration.count == 0)
        #expect(interrupt.timings.dpcLatency.count == 0)
    }
}
