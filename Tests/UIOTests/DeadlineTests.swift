import UIOPlatform
import Foundation
import Testing
import UIO
import UIOTesting

/// Timeouts become nanoseconds and deadlines without trapping, however large or negative.
@Suite("Deadlines and timeouts")
struct DeadlineTests {
    /// Larger than `Int64.max` seconds: `Duration.components` traps on it.
    static let pastInt64Seconds = Duration.seconds(Int64.max) * 10

    @Test("a duration becomes nanoseconds clamped to 0 and Int64.max")
    func clamping() {
        #expect(clampedNanoseconds(.milliseconds(1_500)) == 1_500_000_000)
        #expect(clampedNanoseconds(.seconds(-5)) == 0)
        #expect(clampedNanoseconds(.seconds(Int64.max)) == Int64.max)
        #expect(clampedNanoseconds(Self.pastInt64Seconds) == Int64.max)
    }

    @Test("a timeout too long to count has no deadline (forever); a normal one has")
    func deadlines() {
        #expect(clampedDeadline(after: .seconds(Int64.max)) == nil)
        #expect(clampedDeadline(after: Self.pastInt64Seconds) == nil)
        let soon = clampedDeadline(after: .seconds(1))
        #expect(soon.map { ContinuousClock.now.duration(to: $0) <= .seconds(1) } == true)
    }

    @Test("waiting on a line with the largest timeouts returns the interrupt at once",
          arguments: [Duration.seconds(Int64.max), DeadlineTests.pastInt64Seconds])
    func lineWithHugeTimeout(timeout: Duration) throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.raise()
        #expect(try line.wait(timeout: timeout) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
    }

    @Test("a cancelled line returns from a wait with the largest timeout")
    func cancelledLineWithHugeTimeout() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { try? line.cancel() }
        #expect(try line.wait(timeout: Self.pastInt64Seconds) == .cancelled)
    }
}
