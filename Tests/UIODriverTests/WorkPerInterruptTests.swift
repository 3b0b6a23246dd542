import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOPlatform
import UIOTesting

/// The work the framework does per interrupt, counted on the ISR and DPC threads themselves
/// (thread-local counts, so tests running beside these do not disturb them) and pinned: a
/// change that adds a lock or a system call to the interrupt path fails here and must update the
/// figures in the Performance article.
@Suite("Work per interrupt: system calls and lock acquisitions", .enabled(if: OperationCounts.isCounting, "release builds count nothing"))
struct WorkPerInterruptTests {
    /// What a thread had done when it entered a callback.
    struct Entry: Sendable, Equatable {
        var locks: UInt64
        var systemCalls: UInt64
        static var now: Entry {
            Entry(locks: OperationCounts.lockAcquisitionsOnThisThread, systemCalls: OperationCounts.systemCallsOnThisThread)
        }
        static func - (after: Entry, before: Entry) -> Entry {
            Entry(locks: after.locks - before.locks, systemCalls: after.systemCalls - before.systemCalls)
        }
    }

    /// Raises `count` interrupts one at a time (each after the previous DPC ran) and returns what
    /// each ISR-thread and DPC-thread iteration did between two entries, warm-up dropped.
    func measure(_ raise: @escaping () -> Void, _ resources: some HardwareResources, count: Int = 40,
                 placement: DPCPlacement = .ownThread) throws -> (isr: [Entry], dpc: [Entry]) {
        // Not counted: the test's own bookkeeping is not the framework's work.
        let isrEntries = Locked<[Entry]>([], countingAcquisitions: false)
        let dpcEntries = Locked<[Entry]>([], countingAcquisitions: false)
        let device = Device(resources: resources)
        var config = InterruptConfig<Int>(
            isr: { interrupt, _ in
                let entry = Entry.now
                isrEntries.withLock { $0.append(entry) }
                interrupt.queueDPC()
                return true
            },
            dpc: { _, _ in
                let entry = Entry.now
                dpcEntries.withLock { $0.append(entry) }
            })
        config.dpcPlacement = placement
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...count {
            raise()
            try #require(waitUntil { interrupt.statistics.dpcRuns == raised }, "interrupt \(raised) reached its DPC")
        }
        func deltas(_ entries: [Entry]) -> [Entry] {
            zip(entries.dropFirst(), entries).map { $0 - $1 }.dropFirst(2).map { $0 }
        }
        return (deltas(isrEntries.withLock { $0 }), deltas(dpcEntries.withLock { $0 }))
    }

    @Test("INTx through uio_pci_generic: four system calls and four lock acquisitions on the ISR thread, none but the hand-off's on the DPC thread")
    func pciGeneric() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let (isr, dpc) = try measure({ simulated.raise() }, simulated)
        // ppoll of the interrupt file and the wake-up eventfd; read of the count; the command
        // register read and written to clear Interrupt Disable.
        #expect(Set(isr.map(\.systemCalls)) == [4], "\(isr)")
        // The interrupt lock; the line's mutex and the command register's for the re-arm; the DPC
        // worker's mutex to queue.
        #expect(Set(isr.map(\.locks)) == [4], "\(isr)")
        // The worker's mutex: taken again when the run ends, and on waking for the next (unless
        // the next request came before the worker went back to waiting).
        #expect(Set(dpc.map(\.systemCalls)) == [0], "\(dpc)")
        #expect(dpc.allSatisfy { (1...2).contains($0.locks) }, "\(dpc)")
    }

    @Test("an eventfd vector (the MSI model): the same three lock acquisitions on the ISR thread")
    func eventfd() throws {
        let resources = try EventfdDevice()
        let (isr, dpc) = try measure({ resources.sources[0].raise() }, resources)
        #expect(Set(isr.map(\.locks)) == [3], "\(isr)")
        #expect(dpc.allSatisfy { (1...2).contains($0.locks) }, "\(dpc)")
    }

    @Test("a DPC on the ISR thread: three lock acquisitions per interrupt, on one thread")
    func dpcOnServiceThread() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let (isr, dpc) = try measure({ simulated.raise() }, simulated, placement: .serviceThread)
        #expect(Set(isr.map(\.systemCalls)) == [4], "\(isr)")
        // The interrupt lock, the line's and the command register's mutexes: no worker to hand
        // over to.
        #expect(Set(isr.map(\.locks)) == [3], "\(isr)")
        #expect(Set(dpc.map(\.locks)) == [3], "the same thread's counts, seen from the DPC: \(dpc)")
    }
}
