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

/// An interrupt source that is not UIO: an eventfd that a test raises by writing it, the way
/// VFIO signals each MSI-X vector. Masking is recorded, not enforced.
final class EventfdInterruptSource: InterruptSource {
    let name: String
    let reArmMethod = ReArmMethod.none
    private let fd: Int32
    private let waiting: WakeableWait
    private let total = Atomic<UInt32>(0)
    private let closed = Atomic<Bool>(false)
    let rearms = Atomic<Int>(0)
    let enabled = Atomic<Bool>(false)

    init(name: String) throws {
        self.name = name
        fd = try SystemCalls.live.eventfdCreate().get()
        waiting = try WakeableWait(name: name, system: .live)
    }

    deinit { _ = Glibc.close(fd) }

    /// Raises one interrupt: adds 1 to the eventfd.
    func raise() { _ = SystemCalls.live.eventfdSignal(fd) }

    func wait(timeout: Duration?) throws(UIOError) -> InterruptWait {
        guard !closed.load(ordering: .acquiring) else { throw UIOError(.closed, subject: name, reason: "used after close") }
        let outcome: WakeableWait.Outcome
        do {
            outcome = try waiting.wait(on: fd, until: timeout.map { ContinuousClock.now + $0 })
        } catch {
            throw UIOError(.closed, subject: name, reason: "the wait failed: \(error)")
        }
        switch outcome {
        case .woken: return .cancelled
        case .timedOut: return .timedOut
        case .ready:
            var raised: UInt64 = 0
            guard Glibc.read(fd, &raised, 8) == 8 else { return .timedOut }  // nonblocking: already taken
            let count = total.add(UInt32(truncatingIfNeeded: raised), ordering: .relaxed).newValue
            return .interrupt(InterruptEvent(count: count, newInterrupts: UInt32(truncatingIfNeeded: raised)))
        }
    }

    func cancel() throws(UIOError) { try? waiting.wake() }
    func rearm() throws(UIOError) { rearms.add(1, ordering: .relaxed) }
    func enable() throws(UIOError) { enabled.store(true, ordering: .relaxed) }
    func disable() throws(UIOError) { enabled.store(false, ordering: .relaxed) }
    func close() {
        closed.store(true, ordering: .releasing)
        waiting.close()
    }
}

/// A device with several interrupt vectors, one eventfd source each; the rest is a simulated
/// UIO device's.
final class MultiVectorDevice: HardwareResources {
    let simulated: SimulatedDevice
    let sources: [EventfdInterruptSource]

    init(vectors: Int) throws {
        simulated = try SimulatedDevice(kernelDriver: .unmasked)
        sources = try (0..<vectors).map { try EventfdInterruptSource(name: "vector \($0)") }
    }

    var device: UIODevice { simulated.device }
    var liveness: DeviceLiveness { simulated.liveness }
    func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion { try simulated.mapRegion(index) }
    func configSpace() throws(UIOError) -> ConfigSpace { try simulated.configSpace() }
    func interruptLine(reArm: ReArmMethod?) throws(UIOError) -> InterruptLine { try simulated.interruptLine(reArm: reArm) }
    func close() { simulated.close() }
    var interruptVectorCount: Int { sources.count }
    func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource { sources[vector] }
}

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
        let resources = try MultiVectorDevice(vectors: 3)
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
        #expect(resources.sources.allSatisfy { $0.enabled.load(ordering: .relaxed) }, "D0 entry enabled every vector")
        let raises = [0, 5, 3]
        for (vector, count) in raises.enumerated() {
            for done in stride(from: 1, through: count, by: 1) {
                resources.sources[vector].raise()
                #expect(waitUntil { interrupts[vector].synchronize { $0.interrupts } == done }, "vector \(vector), interrupt \(done)")
            }
        }
        #expect(waitUntil { interrupts[1].synchronize { $0.dpcRuns } >= 1 && interrupts[2].synchronize { $0.dpcRuns } >= 1 })
        device.stop()

        for (vector, interrupt) in interrupts.enumerated() {
            let seen = interrupt.synchronize { $0 }
            #expect(seen.interrupts == raises[vector], "vector \(vector)")
            #expect(seen.messageIDs == (raises[vector] == 0 ? [] : [UInt32(vector)]), "vector \(vector)")
            #expect(interrupt.statistics.interrupts == UInt64(raises[vector]))
            #expect(resources.sources[vector].rearms.load(ordering: .relaxed) == raises[vector], "re-armed after each ISR")
        }
        #expect(resources.sources.allSatisfy { !$0.enabled.load(ordering: .relaxed) }, "D0 exit disabled every vector")
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
