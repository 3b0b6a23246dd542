import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting
import UIOPlatform

/// A device's typed context, as WDF's `WdfObjectGetTypedContext`: given at device add, the same
/// object in every callback.
@Suite("Device context")
struct DeviceContextTests {
    final class Counter: Sendable {
        let callbacks = Locked<[String]>([])
        let dpcRuns = Locked(0)
    }

    @Test("every callback, the ISR and the DPC reach the one context the device was added with")
    func reachedFromEveryCallback() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let counter = Counter()
        let device = Device(resources: simulated, context: counter, callbacks: DeviceCallbacks(
            prepareHardware: { device, _ in device.context(as: Counter.self).callbacks.withLock { $0.append("prepare") } },
            d0Entry: { device in device.context(as: Counter.self).callbacks.withLock { $0.append("d0Entry") } },
            d0Exit: { device in device.context(as: Counter.self).callbacks.withLock { $0.append("d0Exit") } },
            releaseHardware: { device in device.context(as: Counter.self).callbacks.withLock { $0.append("release") } }))
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { interrupt, _ in
                #expect(interrupt.device.context(as: Counter.self) === counter)
                interrupt.queueDPC()
                return true
            },
            dpc: { interrupt, _ in interrupt.device.context(as: Counter.self).dpcRuns.withLock { $0 += 1 } }), context: 0)
        try device.start()
        simulated.raise()
        #expect(waitUntil { counter.dpcRuns.withLock { $0 } >= 1 }, "the DPC ran")
        device.stop()
        #expect(counter.callbacks.withLock { $0 } == ["prepare", "d0Entry", "d0Exit", "release"])
        #expect(device.context(as: Counter.self) === counter)
    }
}
