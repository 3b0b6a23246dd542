import Synchronization
import SystemPackage
import Testing
import TestSupport
import UIO
import UIODriver
import UIOPlatform
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// The driver layer over a backend that is not UIO: several vectors on one device, each its own
/// interrupt object, as MSI-X will need.
@Suite("The backend seam: several interrupt sources on one device")
struct BackendSeamTests {
    /// What each interrupt object's ISR and DPC saw.
    struct Seen: Sendable {
        var messageIDs: Set<UInt32> = []
        var interrupts = 0
        var dpcRuns = 0
    }

    @Test("each interrupt object takes the next vector, is called with its message ID and only for its source")
    func vectorsAreIndependent() throws {
        let resources = try EventfdDevice(vectors: 3)
        let device = Device(resources: resources)
        let interrupts = try (0..<3).map { _ in
            try Interrupt(parent: device, config: InterruptConfig<Seen>(
                isr: { interrupt, messageID in
                    interrupt.withLockedContext { seen in
                        seen.messageIDs.insert(messageID)
                        seen.interrupts += Int(interrupt.currentEvent.newInterrupts)
                    }
                    interrupt.queueDPC()
                    return true
                },
                dpc: { interrupt, _ in interrupt.synchronize { $0.dpcRuns += 1 } }), context: Seen())
        }
        #expect(interrupts.map(\.vector) == [0, 1, 2])
        let extra = #expect(throws: DriverError.self) {
            try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        }
        #expect(extra?.status == .insufficientResources)

        try device.start()
        #expect(resources.sources.allSatisfy { $0.isUnmasked }, "D0 entry enabled every vector")
        let raises = [0, 5, 3]
        for (vector, count) in raises.enumerated() {
            for done in stride(from: 1, through: count, by: 1) {
                resources.sources[vector].raise()
                #expect(waitUntil { interrupts[vector].synchronize { $0.interrupts } == done }, "vector \(vector), interrupt \(done)")
                // The re-arm follows the ISR outside the lock: wait for it, or stop() could come first.
                #expect(waitUntil { resources.sources[vector].rearms == done }, "vector \(vector), re-arm \(done)")
            }
        }
        #expect(waitUntil { interrupts[1].synchronize { $0.dpcRuns } >= 1 && interrupts[2].synchronize { $0.dpcRuns } >= 1 })
        device.stop()

        for (vector, interrupt) in interrupts.enumerated() {
            let seen = interrupt.synchronize { $0 }
            #expect(seen.interrupts == raises[vector], "vector \(vector)")
            #expect(seen.messageIDs == (raises[vector] == 0 ? [] : [UInt32(vector)]), "vector \(vector)")
            #expect(interrupt.statistics.interrupts == UInt64(raises[vector]))
            #expect(resources.sources[vector].rearms == raises[vector], "re-armed after each ISR")
        }
        #expect(resources.sources.allSatisfy { !$0.isUnmasked }, "D0 exit disabled every vector")
    }

    @Test("a UIO device has one vector: a second interrupt object is insufficientResources")
    func uioHasOneVector() throws {
        let device = Device(resources: try SimulatedDevice())
        let first = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        #expect(first.vector == 0)
        let error = #expect(throws: DriverError.self) {
            try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        }
        #expect(error?.status == .insufficientResources)
        #expect(throws: UIOError.self) { try device.resources.interruptSource(vector: 1) }
    }
}
