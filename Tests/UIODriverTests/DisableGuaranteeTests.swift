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
    @Test("an interrupt taken from the source as disable() runs is held, not handed to the ISR, and given back by enable()")
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
            guard raiseInsideDisable.withLock({ $0 }) else { return }
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
        #expect(waitUntil { interrupt.synchronize { $0 } == 1 }, "enable() gave the held interrupt back")
        let statistics = interrupt.statistics
        #expect(source.delivered == 2)
        #expect(statistics.interrupts == 2)
        #expect(statistics.wakeUps + statistics.held + statistics.coalesced == statistics.interrupts)
    }
}
