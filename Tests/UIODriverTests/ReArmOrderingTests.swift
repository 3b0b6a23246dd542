import Foundation
import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// The ISR thread re-arms after releasing the interrupt lock; these races prove that it still
/// never unmasks a source after `disable()` (or `reportInactive()`) has returned.
@Suite("Re-arming outside the interrupt lock")
struct ReArmOrderingTests {
    /// Runs `body` on a started interrupt whose eventfd source re-arms slowly (20 µs) while a
    /// thread raises it as fast as it can.
    func underARaiseStorm(_ body: (Interrupt<Int>, EventfdInterruptSource) throws -> Void) throws {
        let resources = try EventfdDevice()
        let source = resources.sources[0]
        source.slowReArm(by: .microseconds(20))
        let device = Device(resources: resources)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        defer { device.stop() }

        let raising = Atomic<Bool>(true)
        let raiser = Thread.detachedThread {
            while raising.load(ordering: .relaxed) { source.raise() }
        }
        defer {
            raising.store(false, ordering: .relaxed)
            raiser.join()
        }
        try #require(waitUntil { interrupt.statistics.wakeUps > 0 }, "the raiser and the ISR thread are running")
        try body(interrupt, source)
    }

    @Test("no unmask after disable() returns, with interrupts raised as fast as possible")
    func noUnmaskAfterDisable() throws {
        try underARaiseStorm { interrupt, source in
            var rearmsWhileEnabled = 0
            for round in 0..<1_000 {
                try interrupt.disable()
                source.forbidUnmasking(true)
                #expect(!source.isUnmasked, "masked when disable() returned")
                // Let the ISR thread finish whatever wake-up it had started, and serve more.
                for _ in 0..<(round % 4) { sched_yield() }
                source.forbidUnmasking(false)
                let before = source.rearms
                try interrupt.enable()
                for _ in 0..<(round % 3) { sched_yield() }
                // Every 100th round waits for a re-arm (bounded), so the race is run even on a
                // machine busy enough that the ISR thread never gets a turn within a few yields.
                if round % 100 == 0 { _ = waitUntil { source.rearms > before } }
                rearmsWhileEnabled += source.rearms - before
            }
            #expect(source.forbiddenUnmasks == 0, "the ISR thread unmasked the source after disable() had returned")
            #expect(rearmsWhileEnabled > 0, "interrupts were served between the rounds (else the race was never run)")
        }
    }

    @Test("no unmask after reportInactive() returns")
    func noUnmaskAfterReportInactive() throws {
        try underARaiseStorm { interrupt, source in
            for round in 0..<500 {
                try interrupt.reportInactive()
                source.forbidUnmasking(true)
                for _ in 0..<(round % 4) { sched_yield() }
                source.forbidUnmasking(false)
                try interrupt.reportActive()
            }
            #expect(source.forbiddenUnmasks == 0, "the ISR thread unmasked the source while it was reported inactive")
        }
    }
}
