import UIOPlatform
import Foundation
import SystemPackage
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

/// A re-arm the kernel refuses (other than removal) reaches the driver through `reArmFailed`,
/// once per episode, and a later re-arm that succeeds brings interrupts back.
@Suite("Re-arm failures")
struct ReArmFailureTests {
    /// A started uio_pci_generic device whose ISR counts and whose `reArmFailed` and
    /// `surpriseRemoval` record what they hear.
    struct Harness {
        let simulated: SimulatedDevice
        let device: Device
        let interrupt: Interrupt<Int>
        let failures = Locked<[UIOError]>([])
        let removals = Locked<[UIOError]>([])

        init() throws {
            simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
            let removals = self.removals
            device = Device(resources: simulated, callbacks: DeviceCallbacks(
                surpriseRemoval: { _, reason in removals.withLock { $0.append(reason) } }))
            var config = InterruptConfig<Int>(isr: { interrupt, _ in
                interrupt.withLockedContext { $0 += 1 }
                return true
            })
            let failures = self.failures
            config.reArmFailed = { _, error in failures.withLock { $0.append(error) } }
            interrupt = try Interrupt(parent: device, config: config, context: 0)
            try device.start()
        }

        var isrCalls: Int { interrupt.synchronize { $0 } }
        var reported: [UIOError] { failures.withLock { $0 } }

        /// Makes the next `count` config-space writes (the INTx re-arm) fail with `errno`.
        func refuseReArm(_ count: Int, with errno: Errno) {
            for _ in 0..<count { simulated.failNext(.configWrite, with: errno) }
        }
    }

    @Test("EPERM on the config write reaches reArmFailed once, naming lockdown; the retry re-arms and interrupts resume")
    func lockdown() throws {
        let harness = try Harness()
        defer { harness.device.stop() }
        harness.refuseReArm(3, with: .notPermitted)
        harness.simulated.raise()
        #expect(waitUntil { harness.interrupt.statistics.rearmFailures == 3 && harness.simulated.isLineEnabled })
        let reported = harness.reported
        try #require(reported.count == 1)
        #expect(reported[0].code == .permissionDenied)
        #expect(reported[0].errno == .notPermitted)
        #expect(reported[0].subject.hasSuffix("/config"))
        #expect(reported[0].advice?.contains("lockdown (Secure Boot): see /sys/kernel/security/lockdown") == true)
        #expect(reported[0].advice?.contains("VFIO") == true)
        harness.simulated.raise()
        #expect(waitUntil { harness.isrCalls == 2 })
        #expect(harness.removals.withLock { $0.isEmpty })
    }

    @Test("EACCES on the config write reaches reArmFailed with advice on the config file's permissions")
    func permissionChanged() throws {
        let harness = try Harness()
        defer { harness.device.stop() }
        harness.refuseReArm(1, with: .permissionDenied)
        harness.simulated.raise()
        #expect(waitUntil { harness.reported.count == 1 })
        let error = try #require(harness.reported.first)
        #expect(error.errno == .permissionDenied)
        #expect(error.advice?.contains("the permissions of \(error.subject) changed") == true)
        #expect(!(error.advice?.contains("lockdown") ?? true))
    }

    @Test("while the re-arm keeps failing the line stays masked and the ISR is not called; no interrupt is lost after")
    func maskedWhileFailing() throws {
        let harness = try Harness()
        defer { harness.device.stop() }
        // 1 + 2 + 4 + … ms: twelve failures keep the line masked for about four seconds, far longer
        // than the checks below take even on a loaded machine.
        harness.refuseReArm(12, with: .notPermitted)
        harness.simulated.raise()
        #expect(waitUntil { harness.isrCalls == 1 && harness.reported.count == 1 })
        harness.simulated.raise()
        #expect(!harness.simulated.isLineEnabled)
        #expect(harness.isrCalls == 1)
        // The interrupt raised while masked is delivered as soon as a retry re-arms the line.
        #expect(waitUntil { harness.isrCalls == 2 })
        #expect(harness.interrupt.statistics.rearmFailures == 12)
        #expect(harness.reported.count == 1)
    }

    @Test("each new episode after a recovery is reported again")
    func secondEpisode() throws {
        let harness = try Harness()
        defer { harness.device.stop() }
        harness.refuseReArm(2, with: .notPermitted)
        harness.simulated.raise()
        #expect(waitUntil { harness.interrupt.statistics.rearmFailures == 2 && harness.simulated.isLineEnabled })
        harness.refuseReArm(1, with: .permissionDenied)
        harness.simulated.raise()
        #expect(waitUntil { harness.reported.count == 2 && harness.simulated.isLineEnabled })
        #expect(harness.reported.map(\.errno) == [.notPermitted, .permissionDenied])
        #expect(harness.isrCalls == 2)
    }

    @Test("stop during a failure episode returns promptly and ends the retries")
    func stopWhileRetrying() throws {
        let harness = try Harness()
        harness.refuseReArm(1_000, with: .notPermitted)
        harness.simulated.raise()
        #expect(waitUntil { harness.reported.count == 1 })
        let clock = ContinuousClock()
        let elapsed = clock.measure { harness.device.stop() }
        #expect(elapsed < .seconds(2))
        #expect(harness.device.state == .stopped)
        #expect(harness.reported.count == 1)
    }

    @Test("a removed device on re-arm is surprise removal, not a re-arm failure")
    func removalIsNotAReArmFailure() throws {
        let harness = try Harness()
        harness.refuseReArm(1, with: .ioError)
        harness.simulated.raise()
        #expect(harness.device.waitUntilStopped(timeout: .seconds(10)))
        #expect(harness.removals.withLock { $0.map(\.code) } == [.deviceRemoved])
        #expect(harness.reported.isEmpty)
    }
}
