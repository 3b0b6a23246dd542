import Foundation
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

@Suite("DPCs and work items")
struct DeferredWorkTests {
    @Test("the ISR's queueDPC hands off to the DPC thread, which runs it")
    func isrQueuesDPC() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let runs = Recorder()
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { interrupt, _ in interrupt.queueDPC(); return true },
            dpc: { _, parent in runs.record(parent === device ? "dpc(device)" : "dpc(?)") }), context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        #expect(waitUntil { runs.all == ["dpc(device)"] })
        #expect(interrupt.statistics.dpcRuns == 1)
    }

    @Test("queueDPC returns false while queued and not started; queued while running, it runs once more")
    func coalescing() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let gate = Gate()
        let runs = Recorder()
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { _, _ in true },
            dpc: { _, _ in
                runs.record("dpc")
                if runs.count(of: "dpc") == 1 { gate.pass() }
            }), context: 0)
        #expect(!interrupt.queueDPC(), "not connected before start")
        try device.start()
        defer { device.stop() }
        #expect(interrupt.queueDPC())
        #expect(gate.waitForArrival())
        #expect(interrupt.queueDPC(), "queued while running: accepted")
        #expect(!interrupt.queueDPC(), "already queued and not started: coalesced")
        #expect(!interrupt.queueDPC())
        gate.open()
        #expect(waitUntil { runs.count(of: "dpc") == 2 })
        Thread.sleep(forTimeInterval: 0.05)
        #expect(runs.count(of: "dpc") == 2)
        #expect(interrupt.statistics.dpcRuns == 2)
    }

    @Test("the work item runs on its own worker, not the ISR thread, with the same coalescing")
    func workItem() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated, executionLevel: .passive)
        let threads = Recorder()
        var config = InterruptConfig<Int>(isr: { interrupt, _ in
            threads.record("isr:\(Thread.current.name ?? "")")
            interrupt.queueWorkItem()
            return true
        })
        config.workItem = { _, _ in threads.record("work:\(Thread.current.name ?? "")") }
        config.automaticSerialization = true
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        // The count goes up as the run begins, before the routine records its thread.
        #expect(waitUntil { interrupt.statistics.workItemRuns == 1 && threads.all.count == 2 })
        #expect(threads.all == ["isr:uio0-isr", "work:uio0-work"])
        #expect(!interrupt.queueDPC(), "there is no DPC")
    }

    @Test("automatic serialization: the DPC waits while another holds the device lock")
    func automaticSerialization() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let runs = Recorder()
        var config = InterruptConfig<Int>(isr: { _, _ in true }, dpc: { _, _ in runs.record("dpc") })
        config.automaticSerialization = true
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        device.acquireLock()
        #expect(interrupt.queueDPC())
        Thread.sleep(forTimeInterval: 0.05)
        #expect(runs.all.isEmpty, "the DPC must not run while the device lock is held")
        device.releaseLock()
        #expect(waitUntil { runs.all == ["dpc"] })
    }

    @Test("without automatic serialization the DPC runs while the device lock is held elsewhere")
    func withoutSerialization() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let runs = Recorder()
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }, dpc: { _, _ in runs.record("dpc") }), context: 0)
        try device.start()
        defer { device.stop() }
        device.acquireLock()
        #expect(interrupt.queueDPC())
        #expect(waitUntil { runs.all == ["dpc"] })
        device.releaseLock()
    }

    @Test("a DPC parented to a queue is serialized with the queue's work")
    func queueSerialization() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let queue = try Queue(device: device)
        let order = Recorder()
        let gate = Gate()
        var config = InterruptConfig<Int>(isr: { _, _ in true }, dpc: { _, _ in order.record("dpc") })
        config.automaticSerialization = true
        let interrupt = try Interrupt(parent: queue, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        queue.submit {
            order.record("request started")
            gate.pass()
            order.record("request done")
        }
        #expect(gate.waitForArrival())
        #expect(interrupt.queueDPC())
        Thread.sleep(forTimeInterval: 0.05)
        gate.open()
        #expect(waitUntil { order.all.count == 3 })
        #expect(order.all == ["request started", "request done", "dpc"])
    }
}
