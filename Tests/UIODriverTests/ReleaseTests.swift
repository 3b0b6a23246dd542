import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

/// A stopped device, its interrupt and what their callbacks hold are released: no object keeps
/// another alive after `stop()`.
@Suite("Release after stop")
struct ReleaseTests {
    final class Payload: Sendable {}

    enum Deferred: CaseIterable, Sendable { case dpc, dpcOnServiceThread, workItem }

    @Test("device, interrupt and a captured object are freed once the driver lets go", arguments: Deferred.allCases)
    func released(_ deferred: Deferred) throws {
        weak var weakDevice: Device?
        weak var weakInterrupt: Interrupt<Int>?
        weak var weakPayload: Payload?
        try {
            let payload = Payload()
            let simulated = try SimulatedDevice(kernelDriver: .unmasked)
            let device = Device(resources: simulated)
            let routine: InterruptConfig<Int>.DeferredRoutine = { _, _ in _ = payload }
            var config = InterruptConfig<Int>(isr: { interrupt, _ in
                deferred == .workItem ? interrupt.queueWorkItem() : interrupt.queueDPC()
            })
            switch deferred {
            case .dpc: config.dpc = routine
            case .dpcOnServiceThread:
                config.dpc = routine
                config.dpcPlacement = .serviceThread
            case .workItem: config.workItem = routine
            }
            let interrupt = try Interrupt(parent: device, config: config, context: 0)
            try device.start()
            simulated.raise()
            #expect(waitUntil { interrupt.statistics.dpcRuns + interrupt.statistics.workItemRuns == 1 })
            device.stop()
            (weakDevice, weakInterrupt, weakPayload) = (device, interrupt, payload)
        }()
        #expect(weakDevice == nil, "the device was kept alive")
        #expect(weakInterrupt == nil, "the interrupt was kept alive")
        #expect(weakPayload == nil, "what the callback captured was kept alive")
    }
}
