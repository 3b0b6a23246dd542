import Testing
import UIOPlatform
import TestSupport
import UIO
import UIODriver
import UIOTesting

@Suite("No ISR after disable() returns")
struct DisableGuaranteeTests {
    /// An edge source (an eventfd, as VFIO's MSI) whose interrupt the ISR thread takes while
    /// `disable()` holds the lock: it must wait, held, and reach the ISR only after `enable()`.
    @Test("an interrupt taken from the source as disable() runs is held, not handed to the ISR, and replayed on the ISR thread after enable()")
    func heldAcrossDisable() throws {
        let resources = try EventfdDevice()
        let source = resources.sources[0]
        let device = Device(resources: resources)
        var config = InterruptConfig<Int>(isr: { interrupt, _ in
            interrupt.withLockedContext { $0 += 1 }
            return true
        })
        let raiseInsideDisable = Locked(false)
        config.disable = { _, _ in
            // The interrupt lock is held: the ISR thread takes the interrupt from the eventfd,
            // then waits for the lock this call holds.
            guard raiseInsideDisable.withLock({ raise in defer { raise = false }; return raise }) else { return }  // once: not at stop
            let before = source.delivered
            source.raise()
            _ = waitUntil { source.delivered == before + 1 }
        }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }

        raiseInsideDisable.withLock { $0 = true }
        try interrupt.disable()
        #expect(source.delivered == 1, "the ISR thread took the interrupt while disable() held the lock")
        #expect(waitUntil { interrupt.statistics.held == 1 }, "the ISR thread got the lock and held the interrupt")
        #expect(interrupt.synchronize { $0 } == 0, "no ISR after disable() returned")
        #expect(interrupt.statistics.wakeUps == 0)

        try interrupt.enable()
        #expect(waitUntil { interrupt.statistics.replayed == 1 }, "enable() had the ISR thread replay the held interrupt")
        #expect(interrupt.synchronize { $0 } == 1)
        let statistics = interrupt.statistics
        #expect(source.delivered == 1, "an eventfd does not deliver it again: the ISR thread replays it")
        #expect(statistics.interrupts == 1)
        #expect(statistics.wakeUps == 0)
        #expect(statistics.recognized == statistics.wakeUps + statistics.replayed)
        #expect(statistics.wakeUps + statistics.held + statistics.coalesced == statistics.interrupts)

        // An interrupt after that is an ordinary one.
        source.raise()
        #expect(waitUntil { interrupt.statistics.wakeUps == 1 })
        #expect(interrupt.synchronize { $0 } == 2)
    }

    @Test("enable() then disable() at once: the held interrupt reaches the ISR exactly once, whether its replay ran between them or waited for the next enable()")
    func disabledBeforeReplay() throws {
        let resources = try EventfdDevice()
        let source = resources.sources[0]
        let device = Device(resources: resources)
        var config = InterruptConfig<Int>(isr: { interrupt, _ in
            interrupt.withLockedContext { $0 += 1 }
            return true
        })
        let raiseInsideDisable = Locked(false)
        config.disable = { _, _ in
            guard raiseInsideDisable.withLock({ raise in defer { raise = false }; return raise }) else { return }
            source.raise()
            _ = waitUntil { source.delivered == 1 }
        }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        raiseInsideDisable.withLock { $0 = true }
        try interrupt.disable()
        #expect(waitUntil { interrupt.statistics.held == 1 })
        // The replay runs on the ISR thread: before the disable() that follows at once, or after
        // the next enable(). Either way, once.
        try interrupt.enable()
        try interrupt.disable()
        #expect(interrupt.synchronize { $0 } <= 1)
        try interrupt.enable()
        #expect(waitUntil { interrupt.statistics.replayed == 1 }, "replayed once, after one of the two enables")
        #expect(interrupt.synchronize { $0 } == 1)
        #expect(interrupt.statistics.held == 1)
    }
}
