import UIOPlatform
import Dispatch
import Foundation
import Testing
import UIO
import UIODriver
import UIOTesting

/// `Device.stop()` waits for every callback to finish; called where it would wait for itself it
/// traps with the rule instead of hanging, and where a stop is already under way it returns.
@Suite("Where stop() may be called")
struct StopRuleTests {
    @Test("stop() from the device's own ISR traps, naming the rule")
    func fromTheISR() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let simulated = try SimulatedDevice(kernelDriver: .unmasked)
            let device = Device(resources: simulated)
            _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in
                device.stop()
                return true
            }), context: 0)
            try device.start()
            simulated.raise()
            device.waitUntilStopped(timeout: .seconds(10))
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("ISR, DPC or work item"))
    }

    @Test("stop() from the device's own DPC traps")
    func fromTheDPC() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            try Self.stopInDeferredCall(workItem: false)
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("ISR, DPC or work item"))
    }

    @Test("stop() from the device's own work item traps")
    func fromTheWorkItem() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            try Self.stopInDeferredCall(workItem: true)
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("ISR, DPC or work item"))
    }

    /// Raises one interrupt whose ISR queues the DPC (or work item), which calls stop().
    static func stopInDeferredCall(workItem: Bool) throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { interrupt, _ in workItem ? interrupt.queueWorkItem() : interrupt.queueDPC() })
        let stop: InterruptConfig<Int>.DeferredRoutine = { _, _ in device.stop() }
        if workItem { config.workItem = stop } else { config.dpc = stop }
        _ = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        simulated.raise()
        device.waitUntilStopped(timeout: .seconds(10))
    }

    @Test("stop() holding the interrupt lock traps, naming the lock")
    func holdingTheInterruptLock() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let device = Device(resources: try SimulatedDevice())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            try device.start()
            interrupt.synchronize { _ in device.stop() }
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("holding the interrupt lock"))
    }

    @Test("stop() holding the device lock traps")
    func holdingTheDeviceLock() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let device = Device(resources: try SimulatedDevice())
            try device.start()
            device.withLock { device.stop() }
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("holding the device lock"))
    }

    @Test("stop() from a queue's work traps, naming the queue")
    func fromAQueuesWork() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let device = Device(resources: try SimulatedDevice())
            let queue = try Queue(device: device)
            try device.start()
            queue.submit { device.stop() }
            device.waitUntilStopped(timeout: .seconds(10))
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("queue"))
    }

    @Test("stop() from a start callback traps and says to throw instead")
    func fromAStartCallback() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let holder = DeviceHolder()
            let device = Device(resources: try SimulatedDevice(), callbacks: DeviceCallbacks(d0Entry: { _ in holder.device?.stop() }))
            holder.device = device
            try device.start()
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("throw from the callback"))
    }

    @Test("stop() from the surprise-removal, D0-exit and release-hardware callbacks returns, and the device stops")
    func fromTheStopCallbacks() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let calls = Locked<[String]>([])
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(
            d0Exit: { device in device.stop(); calls.withLock { $0.append("d0Exit") } },
            releaseHardware: { device in device.stop(); calls.withLock { $0.append("releaseHardware") } },
            surpriseRemoval: { device, _ in device.stop(); calls.withLock { $0.append("surpriseRemoval") } }))
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        simulated.remove()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        #expect(device.state == .stopped)
        #expect(calls.withLock { $0 } == ["surpriseRemoval", "d0Exit", "releaseHardware"])
        device.stop()
    }
}

/// Lets a callback reach the device it is a callback of.
final class DeviceHolder: @unchecked Sendable {
    var device: Device?
}
