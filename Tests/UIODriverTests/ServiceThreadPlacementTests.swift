import CTestSupport
import Foundation
import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
import UIOPlatform
#endif

/// `ServiceThreadPlacement`: the ISR thread on the CPU where the interrupt lands, at a real-time
/// priority, and typed errors when that cannot be had. Serialized: one test changes the
/// process's `RLIMIT_RTPRIO` for a moment.
@Suite("Placing the ISR thread", .serialized)
struct ServiceThreadPlacementTests {
    static let sysNice: Int32 = 23  // CAP_SYS_NICE

    /// What the ISR thread saw of itself on its first call.
    struct Seen: Sendable {
        var cpu: Int32 = -1
        var policy: Int32 = -1
        var allowedCPUs: Int32 = 0
    }

    func run(_ simulated: SimulatedDevice, _ placement: ServiceThreadPlacement) throws -> Seen {
        let seen = Locked(Seen())
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { _, _ in
            let seenNow = Seen(cpu: test_current_cpu(), policy: sched_getscheduler(0), allowedCPUs: test_allowed_cpu_count())
            seen.withLock { $0 = seenNow }
            return true
        })
        config.serviceThreadPlacement = placement
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        simulated.raise()
        try #require(waitUntil { interrupt.statistics.wakeUps == 1 })
        return seen.withLock { $0 }
    }

    /// The first and the last CPU this process may run on (a container's cpuset may have gaps).
    static var firstCPU: Int { Int(test_allowed_cpu(0)) }
    static var lastCPU: Int { Int(test_allowed_cpu(test_allowed_cpu_count() - 1)) }

    @Test("whereInterruptLands: the ISR thread runs only on the CPU the kernel delivers to")
    func followsTheInterrupt() throws {
        let simulated = try SimulatedDevice()
        simulated.deliverInterrupts(toCPUs: [Self.lastCPU])
        let seen = try run(simulated, ServiceThreadPlacement(cpus: .whereInterruptLands))
        #expect(seen.cpu == Int32(Self.lastCPU))
        #expect(seen.allowedCPUs == 1)
    }

    @Test("these CPUs: the ISR thread runs only there")
    func givenCPUs() throws {
        let seen = try run(try SimulatedDevice(), ServiceThreadPlacement(cpus: .these([Self.firstCPU])))
        #expect(seen.cpu == Int32(Self.firstCPU))
        #expect(seen.allowedCPUs == 1)
    }

    @Test("whereInterruptLands when the kernel does not say: notSupported at start, nothing left running")
    func unknownDelivery() throws {
        let device = Device(resources: try SimulatedDevice())
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.serviceThreadPlacement = ServiceThreadPlacement(cpus: .whereInterruptLands)
        _ = try Interrupt(parent: device, config: config, context: 0)
        defer { device.stop() }
        do {
            try device.start()
            Issue.record("started without knowing where the interrupt lands")
        } catch {
            #expect(error.status == .notSupported)
            #expect(error.description.contains("effective_affinity_list"))
        }
    }

    @Test("a CPU that is not there: invalidParameter at start, with the system's errno")
    func missingCPU() throws {
        let simulated = try SimulatedDevice()
        simulated.deliverInterrupts(toCPUs: [4_000])
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.serviceThreadPlacement = ServiceThreadPlacement(cpus: .whereInterruptLands)
        _ = try Interrupt(parent: device, config: config, context: 0)
        defer { device.stop() }
        do {
            try device.start()
            Issue.record("started on a CPU that is not there")
        } catch {
            #expect(error.status == .invalidParameter)
            #expect(error.underlying?.errno == .invalidArgument)
        }
    }

    @Test("realTimePriority: the ISR thread runs SCHED_FIFO",
          .enabled(if: test_has_capability(sysNice) == 1, "needs CAP_SYS_NICE, which root has"))
    func realTime() throws {
        let seen = try run(try SimulatedDevice(), ServiceThreadPlacement(realTimePriority: 10))
        #expect(seen.policy == SCHED_FIFO)
    }

    @Test("realTimePriority without CAP_SYS_NICE or RLIMIT_RTPRIO: accessDenied, with advice naming both")
    func realTimeDenied() throws {
        var saved: UInt = 0
        try #require(test_set_realtime_priority_limit(0, &saved) == 0)
        defer {
            var ignored: UInt = 0
            _ = test_set_realtime_priority_limit(saved, &ignored)
        }
        // Capabilities are per thread: drop CAP_SYS_NICE on a thread of the test's own.
        let outcome = Locked<Result<Void, DriverError>?>(nil)
        let dropped = Locked<Int32>(-1)
        let simulated = try SimulatedDevice()
        let worker = Thread.detachedThread {
            let result = test_drop_capability_on_this_thread(Self.sysNice)
            dropped.withLock { $0 = result }
            guard result == 0 else { return }
            let device = Device(resources: simulated)
            var config = InterruptConfig<Int>(isr: { _, _ in true })
            config.serviceThreadPlacement = ServiceThreadPlacement(realTimePriority: 10)
            do throws(DriverError) {
                _ = try Interrupt(parent: device, config: config, context: 0)
                try device.start()
                outcome.withLock { $0 = .success(()) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            device.stop()
        }
        worker.join()
        try #require(dropped.withLock { $0 } == 0, "CAP_SYS_NICE could not be dropped from the test's thread")
        guard case .failure(let error)? = outcome.withLock({ $0 }) else {
            Issue.record("SCHED_FIFO was granted without CAP_SYS_NICE or RLIMIT_RTPRIO")
            return
        }
        #expect(error.status == .accessDenied)
        #expect(error.underlying?.code == .permissionDenied)
        #expect(error.description.contains("CAP_SYS_NICE"))
        #expect(error.description.contains("RLIMIT_RTPRIO"))
    }

    @Test("a priority outside 1...99 or an empty CPU list is invalidParameter at creation",
          arguments: [ServiceThreadPlacement(realTimePriority: 0), ServiceThreadPlacement(realTimePriority: 100),
                      ServiceThreadPlacement(cpus: .these([]))])
    func invalid(_ placement: ServiceThreadPlacement) throws {
        let device = Device(resources: try SimulatedDevice())
        defer { device.stop() }
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.serviceThreadPlacement = placement
        do {
            _ = try Interrupt(parent: device, config: config, context: 0)
            Issue.record("created with \(placement)")
        } catch {
            #expect(error.status == .invalidParameter)
        }
    }
}
