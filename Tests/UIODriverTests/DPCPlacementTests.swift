import Foundation
import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOPlatform
import UIOTesting

/// `DPCPlacement.serviceThread`: the DPC on the ISR thread, with the queueing rules of WDF's DPC.
@Suite("A DPC on the ISR thread")
struct DPCPlacementTests {
    @Test("the DPC runs on the ISR thread, after the ISR, once per queueing before it starts")
    func runsOnTheServiceThread() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let threads = Locked<[String: UInt]>([:])
        let secondQueueing = Locked<[Bool]>([])
        var config = InterruptConfig<Int>(
            isr: { interrupt, _ in
                threads.withLock { $0["isr"] = Processor.currentThread }
                let first = interrupt.queueDPC()
                let second = interrupt.queueDPC()
                secondQueueing.withLock { $0.append(first && !second) }
                return true
            },
            dpc: { interrupt, _ in
                threads.withLock { $0["dpc"] = Processor.currentThread }
                #expect(!interrupt.isLockHeld, "the DPC runs after the ISR released the interrupt lock")
            })
        config.dpcPlacement = .serviceThread
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...3 {
            simulated.raise()
            #expect(waitUntil { interrupt.statistics.dpcRuns == raised })
        }
        let seen = threads.withLock { $0 }
        #expect(seen["isr"] != nil && seen["isr"] == seen["dpc"], "the ISR and the DPC ran on one thread")
        #expect(secondQueueing.withLock { $0 } == [true, true, true], "a DPC queued and not started is not queued twice")
    }

    @Test("queued from another thread, it wakes the ISR thread, which runs it")
    func queuedFromElsewhere() throws {
        let device = Device(resources: try SimulatedDevice(kernelDriver: .unmasked))
        let ran = Atomic<Int>(0)
        var config = InterruptConfig<Int>(isr: { _, _ in true }, dpc: { _, _ in ran.add(1, ordering: .relaxed) })
        config.dpcPlacement = .serviceThread
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        #expect(!interrupt.queueDPC(), "refused before the interrupt connects")
        try device.start()
        #expect(interrupt.queueDPC())
        #expect(waitUntil { ran.load(ordering: .relaxed) == 1 })
        #expect(interrupt.statistics.wakeUps == 0, "no interrupt was needed to run it")
        device.stop()
        #expect(!interrupt.queueDPC(), "refused after the interrupt disconnects")
    }

    @Test("queued while it runs, it runs once more, and stopping lets that run finish")
    func queuedWhileRunningAndFlushedAtStop() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let gate = Gate()
        let ran = Atomic<Int>(0)
        var config = InterruptConfig<Int>(
            isr: { interrupt, _ in interrupt.queueDPC() },
            dpc: { _, _ in
                if ran.add(1, ordering: .relaxed).newValue == 1 { gate.pass() }
            })
        config.dpcPlacement = .serviceThread
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        simulated.raise()
        #expect(gate.waitForArrival())
        #expect(interrupt.queueDPC(), "the first run has started: queueing again is accepted")
        #expect(!interrupt.queueDPC(), "and not twice")
        let stopped = Atomic<Bool>(false)
        let stopper = Thread.detachedThread {
            device.stop()
            stopped.store(true, ordering: .releasing)
        }
        usleep(20_000)
        let stoppedEarly = stopped.load(ordering: .acquiring)
        #expect(!stoppedEarly, "stop waits for the DPC under way")
        gate.open()
        stopper.join()
        #expect(ran.load(ordering: .relaxed) == 2, "the run queued while the first ran, ran before stop returned")
    }

    @Test("serviceThread placement without a DPC is invalidParameter")
    func needsADPC() throws {
        let device = Device(resources: try SimulatedDevice())
        defer { device.stop() }
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.dpcPlacement = .serviceThread
        #expect(throws: DriverError.self) { _ = try Interrupt(parent: device, config: config, context: 0) }
        do {
            _ = try Interrupt(parent: device, config: config, context: 0)
        } catch {
            #expect(error.status == .invalidParameter)
        }
    }
}
