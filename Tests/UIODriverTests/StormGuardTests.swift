import Foundation
import Synchronization
import Testing
import TestSupport
import UIO
@testable import UIODriver
import UIOTesting
import UIOPlatform

/// The "nobody cared" guard: an ISR that keeps refusing its interrupts gets its line masked.
@Suite("The storm guard")
struct StormGuardTests {
    @Test("an ISR that recognizes nothing: the line is masked after one window, reported once, and enable() resumes it")
    func masksAStorm() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let storms = Locked<[InterruptStorm]>([])
        var config = InterruptConfig<Int>(isr: { _, _ in false })
        // A minute's quiet reset: a stalled test machine must not restart the count.
        config.stormGuard = StormGuard(window: 100, unrecognizedLimit: 98, quietReset: .seconds(60))
        config.interruptStorm = { _, storm in storms.withLock { $0.append(storm) } }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }

        // A level interrupt nobody acknowledges: raised again as soon as the line is unmasked.
        let raising = Atomic<Bool>(true)
        let raiser = Thread.detachedThread {
            while raising.load(ordering: .relaxed) {
                simulated.raise()
                usleep(50)
            }
        }
        defer {
            raising.store(false, ordering: .relaxed)
            raiser.join()
        }
        try #require(waitUntil { storms.withLock { $0.count } == 1 }, "the guard tripped")
        let storm = try #require(storms.withLock { $0.first })
        #expect(storm.wakeUps == 100)
        #expect(storm.unrecognized == 100)
        #expect(storm.source == simulated.device.devicePath)
        #expect(storm.description.contains("did not recognize 100 of 100"))
        #expect(interrupt.statistics.storms == 1)

        let masked = interrupt.statistics.wakeUps
        usleep(100_000)
        #expect(interrupt.statistics.wakeUps <= masked + 1, "masked: at most the wake-up already under way")
        #expect(storms.withLock { $0.count } == 1)

        try interrupt.disable()
        try interrupt.enable()
        #expect(waitUntil { interrupt.statistics.wakeUps > masked + 10 }, "enable() unmasked the line again")
    }

    @Test("a source that cannot mask (a maskless MSI vector): after the guard trips, what it signals is held, not handed to the ISR; enable() gives it back")
    func holdsAStormItCannotMask() throws {
        let resources = try EventfdDevice(canMask: false)
        let source = resources.sources[0]
        let device = Device(resources: resources)
        let storms = Locked(0)
        var config = InterruptConfig<Int>(isr: { _, _ in false })
        config.stormGuard = StormGuard(window: 100, unrecognizedLimit: 98, quietReset: .seconds(60))
        config.interruptStorm = { _, _ in storms.withLock { $0 += 1 } }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        let raising = Atomic<Bool>(true)
        let raiser = Thread.detachedThread {
            while raising.load(ordering: .relaxed) {
                source.raise()
                usleep(50)
            }
        }
        try #require(waitUntil { storms.withLock { $0 } == 1 }, "the guard tripped")
        let calls = interrupt.statistics.unrecognized
        #expect(waitUntil { interrupt.statistics.held > 10 }, "what the source still signals is held")
        #expect(interrupt.statistics.unrecognized <= calls + 1, "the ISR was still called: at most the call already under way")
        raising.store(false, ordering: .relaxed)
        raiser.join()
        try interrupt.disable()
        try interrupt.enable()
        #expect(waitUntil { interrupt.statistics.replayed == 1 }, "enable() gave the held interrupts back, in one call")
        let statistics = interrupt.statistics
        #expect(statistics.wakeUps + statistics.held + statistics.coalesced == statistics.interrupts, "\(statistics)")
    }

    @Test("reportInactive() and reportActive() leave a line the guard masked masked; enable() unmasks it")
    func reportActiveKeepsTheStormMask() throws {
        let resources = try EventfdDevice()
        let source = resources.sources[0]
        let device = Device(resources: resources)
        var config = InterruptConfig<Int>(isr: { _, _ in false })
        config.stormGuard = StormGuard(window: 10, unrecognizedLimit: 8, quietReset: .seconds(60))
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...10 {
            source.raise()
            try #require(waitUntil { interrupt.statistics.wakeUps == UInt64(raised) })
        }
        try #require(waitUntil { interrupt.statistics.storms == 1 })
        #expect(!source.isUnmasked, "the guard masked the source")
        source.forbidUnmasking(true)
        try interrupt.reportInactive()
        try interrupt.reportActive()
        source.forbidUnmasking(false)
        #expect(source.forbiddenUnmasks == 0, "reportActive() unmasked a line the storm guard masked")
        try interrupt.disable()
        try interrupt.enable()
        #expect(source.isUnmasked)
    }

    @Test("an ISR that recognizes its interrupts never trips it")
    func recognizedInterruptsDoNot() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.stormGuard = StormGuard(window: 10, unrecognizedLimit: 0)
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...50 {
            simulated.raise()
            try #require(waitUntil { interrupt.statistics.wakeUps == UInt64(raised) })
        }
        #expect(interrupt.statistics.storms == 0)
    }

    @Test("the kernel's counting: more than the limit in a window trips; a quiet spell starts the count again")
    func counting() {
        var counts = StormGuardCounts(StormGuard(window: 10, unrecognizedLimit: 5, quietReset: .seconds(60)))
        let verdicts = (0..<10).map { index in counts.record(recognized: index < 4) }
        #expect(verdicts.dropLast().allSatisfy { $0 == nil })
        #expect(verdicts.last??.unrecognized == 6, "6 of 10 unrecognized: more than 5")

        var exactly = StormGuardCounts(StormGuard(window: 10, unrecognizedLimit: 5, quietReset: .seconds(60)))
        #expect((0..<10).compactMap { index in exactly.record(recognized: index < 5) }.isEmpty, "5 of 10 is not more than 5")

        var quiet = StormGuardCounts(StormGuard(window: 10, unrecognizedLimit: 5, quietReset: .zero))
        #expect((0..<10).compactMap { _ in quiet.record(recognized: false) }.isEmpty,
                "each unrecognized wake-up comes after a quiet spell longer than zero, so the count never grows")
    }

    @Test("a window below 1 or a limit outside it is invalidParameter", arguments: [(0, 0), (10, 10), (10, -1)])
    func invalidLimits(window: Int, limit: Int) throws {
        let device = Device(resources: try SimulatedDevice())
        defer { device.stop() }
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.stormGuard = StormGuard(window: window, unrecognizedLimit: limit)
        do {
            _ = try Interrupt(parent: device, config: config, context: 0)
            Issue.record("created with an invalid storm guard")
        } catch {
            #expect(error.status == .invalidParameter)
        }
    }
}
