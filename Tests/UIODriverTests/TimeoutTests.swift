import Foundation
import Testing
import UIO
import UIODriver
import UIOTesting

/// Timeouts a driver passes are clamped, never turned into a trap.
@Suite("Driver timeouts")
struct TimeoutTests {
    @Test("waitUntilStopped with the largest timeouts returns when another thread stops the device",
          arguments: [Duration.seconds(Int64.max), Duration.seconds(Int64.max) * 10])
    func waitUntilStoppedForever(timeout: Duration) throws {
        let device = Device(resources: try SimulatedDevice())
        _ = try Interrupt(parent: device, config: InterruptConfig<Void>(isr: { _, _ in true }), context: ())
        try device.start()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { device.stop() }
        #expect(device.waitUntilStopped(timeout: timeout))
        #expect(device.state == .stopped)
    }

    @Test("waitUntilStopped with a negative timeout returns false at once on a working device")
    func waitUntilStoppedNegative() throws {
        let device = Device(resources: try SimulatedDevice())
        try device.start()
        defer { device.stop() }
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!device.waitUntilStopped(timeout: .seconds(-1))) }
        #expect(elapsed < .seconds(1))
    }
}
