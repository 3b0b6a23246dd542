import Foundation
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

@Suite("The ISR thread")
struct InterruptServiceTests {
    @Test("each wake-up calls the ISR once, with the count and the collapsed interrupts")
    func countsPerWakeUp() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let gate = Gate()
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Counts>(isr: { interrupt, messageID in
            let event = interrupt.currentEvent
            let first = interrupt.withLockedContext { counts in
                counts.isrCalls += 1
                counts.lastEvent = event
                return counts.isrCalls == 1
            }
            if first { gate.pass() }  // hold the first ISR so the next interrupts collapse
            return messageID == 0
        }), context: Counts())
        try device.start()
        defer { device.stop() }
        simulated.raise()
        #expect(gate.waitForArrival())
        simulated.raise(times: 5)
        gate.open()
        #expect(waitUntil { interrupt.synchronize { $0.isrCalls } == 2 })
        let last = interrupt.synchronize { $0.lastEvent }
        #expect(last == InterruptEvent(count: 6, newInterrupts: 5))
        let statistics = interrupt.statistics
        #expect(statistics.wakeUps == 2)
        #expect(statistics.interrupts == 6)
        #expect(statistics.coalesced == 4)
        #expect(statistics.recognized == 2)
        #expect(statistics.unrecognized == 0)
        #expect(statistics.lastCount == 6)
        #expect(statistics.interrupts == UInt64(simulated.eventCount))
    }

    @Test("an ISR that does not recognize the interrupt is counted as unrecognized")
    func unrecognized() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in false }), context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        #expect(waitUntil { interrupt.statistics.unrecognized == 1 })
        #expect(interrupt.statistics.recognized == 0)
    }

    @Test("the lock is held while the ISR runs: tryToAcquireLock fails from another thread, then succeeds")
    func lockHeldDuringISR() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let gate = Gate()
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in
            gate.pass()
            return true
        }), context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        #expect(gate.waitForArrival())
        #expect(interrupt.isLockHeld)
        #expect(!interrupt.tryToAcquireLock())
        gate.open()
        #expect(waitUntil { interrupt.statistics.wakeUps == 1 })
        #expect(waitUntil { interrupt.tryToAcquireLock() })
        interrupt.releaseLock()
    }

    @Test("genirq: the line is re-armed through irqcontrol after each ISR, without the driver asking")
    func rearmsIRQControl() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let device = Device(resources: simulated)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        defer { device.stop() }
        for expected in 1...5 {
            simulated.raise()
            #expect(waitUntil { interrupt.statistics.wakeUps == UInt64(expected) })
            #expect(waitUntil { simulated.isLineEnabled })
        }
        #expect(simulated.controlWrites.filter { $0 == 1 }.count >= 5)
    }

    @Test("uio_pci_generic: the Interrupt Disable bit is cleared after each ISR")
    func rearmsINTx() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        defer { device.stop() }
        let config = try simulated.configSpace()
        for expected in 1...5 {
            simulated.raise()
            #expect(waitUntil { interrupt.statistics.wakeUps == UInt64(expected) })
            #expect(waitUntil { (try? config.isInterruptDisabled()) == false })
        }
        #expect(simulated.controlWrites.isEmpty)
    }

    @Test("the events sequence delivers each wake-up after the ISR ran, and finishes at stop")
    func asyncEvents() async throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let device = Device(resources: simulated)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { interrupt, _ in
            interrupt.withLockedContext { $0 += 1 }
            return true
        }), context: 0)
        try device.start()
        let events = interrupt.events()
        simulated.raise()
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.count == 1)
        #expect(interrupt.synchronize { $0 } == 1)
        device.stop()
        var rest = 0
        while await iterator.next() != nil { rest += 1 }
        #expect(rest == 0)
    }

    @Test("info: the parent's irq, not message-signaled; PCI INTx is level, active-low, shared")
    func info() throws {
        let pci = Device(resources: try SimulatedDevice(kernelDriver: .uioPCIGeneric, irq: 11))
        let interrupt = try Interrupt(parent: pci, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let info = interrupt.info
        #expect(info.vector == 11)
        #expect(!info.messageSignaled)
        #expect(info.messageNumber == 0)
        #expect(info.mode == .levelSensitive)
        #expect(info.polarity == .activeLow)
        #expect(info.shareDisposition == .shared)
        pci.stop()
    }
}
