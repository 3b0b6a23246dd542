// Benchmarks of swift-uio's interrupt machinery on the host, each beside the baseline it is a
// ratio against (measured in the same run): the interrupt lock against pthread_spin_lock and the
// standard Mutex, the ISR → DPC hand-off against a condition-variable hand-off, MMIO reads from
// Swift against C, and the allocations of one interrupt's trip through ISR and DPC.

import Benchmark
import CBaselines
import Foundation
import Synchronization
import UIO
import UIODriver
import UIOTesting

/// Operations per iteration for the nanosecond-scale benchmarks.
let innerLoop = 1000

/// `UIO_BENCH_SMOKE=1`: a short run that proves the suite works; its figures mean little.
let smoke = ProcessInfo.processInfo.environment["UIO_BENCH_SMOKE"] == "1"

/// The run's length, shortened for a smoke run.
func limits(seconds: Int, iterations: Int) -> (Duration, Int) {
    smoke ? (.milliseconds(100), min(iterations, 50)) : (.seconds(seconds), iterations)
}

let benchmarks: @Sendable () -> Void = {
    let (quickTime, quickIterations) = limits(seconds: 2, iterations: 100_000)
    let quick = Benchmark.Configuration(metrics: [.wallClock], maxDuration: quickTime, maxIterations: quickIterations)

    // MARK: The interrupt lock, uncontended

    Benchmark("lock: acquire+release, swift-uio spin lock (x1000)", configuration: quick) { benchmark, interrupt in
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop {
                interrupt.acquireLock()
                interrupt.releaseLock()
            }
        }
    } setup: { try LockFixture.interrupt() }

    Benchmark("lock: acquire+release, pthread_spin_lock (x1000)", configuration: quick) { benchmark, fixture in
        let lock = fixture.lock
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop {
                baseline_spin_lock(lock)
                baseline_spin_unlock(lock)
            }
        }
    } setup: { SpinFixture() }

    Benchmark("lock: acquire+release, Synchronization.Mutex (x1000)", configuration: quick) { benchmark in
        let mutex = MutexBox()
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop { mutex.value.withLock { $0 &+= 1 } }
        }
    }

    Benchmark("lock: try success, swift-uio (x1000)", configuration: quick) { benchmark, interrupt in
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop {
                if interrupt.tryToAcquireLock() { interrupt.releaseLock() }
            }
        }
    } setup: { try LockFixture.interrupt() }

    Benchmark("lock: try success, pthread_spin_trylock (x1000)", configuration: quick) { benchmark, fixture in
        let lock = fixture.lock
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop {
                if baseline_spin_trylock(lock) != 0 { baseline_spin_unlock(lock) }
            }
        }
    } setup: { SpinFixture() }

    Benchmark("lock: try failure, swift-uio (x1000)", configuration: quick) { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop { blackHole(fixture.interrupt.tryToAcquireLock()) }
        }
    } setup: { try HeldLockFixture() }

    Benchmark("lock: try failure, pthread_spin_trylock (x1000)", configuration: quick) { benchmark, fixture in
        let lock = fixture.lock
        for _ in benchmark.scaledIterations {
            for _ in 0..<innerLoop { blackHole(baseline_spin_trylock(lock)) }
        }
    } setup: { SpinFixture(held: true) }

    // MARK: The interrupt lock, two threads contending

    let (contendedTime, contendedIterations) = limits(seconds: 3, iterations: 200)
    let contended = Benchmark.Configuration(metrics: [.wallClock], maxDuration: contendedTime, maxIterations: contendedIterations)
    Benchmark("lock: 2 threads x 10000 acquire+release, swift-uio", configuration: contended) { benchmark, interrupt in
        for _ in benchmark.scaledIterations {
            Contention.run { for _ in 0..<10_000 { interrupt.acquireLock(); interrupt.releaseLock() } }
        }
    } setup: { try LockFixture.interrupt() }

    Benchmark("lock: 2 threads x 10000 acquire+release, pthread_spin_lock", configuration: contended) { benchmark, fixture in
        let shared = fixture
        for _ in benchmark.scaledIterations {
            Contention.run { for _ in 0..<10_000 { baseline_spin_lock(shared.lock); baseline_spin_unlock(shared.lock) } }
        }
    } setup: { SpinFixture() }

    Benchmark("lock: 2 threads x 10000 acquire+release, Synchronization.Mutex", configuration: contended) { benchmark in
        let mutex = MutexBox()
        for _ in benchmark.scaledIterations {
            Contention.run { for _ in 0..<10_000 { mutex.value.withLock { $0 &+= 1 } } }
        }
    }

    // MARK: Hand-off from the ISR side to the DPC thread

    let (handoffTime, handoffIterations) = limits(seconds: 3, iterations: 20_000)
    let handoff = Benchmark.Configuration(metrics: [.wallClock], maxDuration: handoffTime, maxIterations: handoffIterations)
    Benchmark("hand-off: queueDPC -> DPC -> condvar back, swift-uio", configuration: handoff) { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            fixture.interrupt.queueDPC()
            baseline_event_wait(fixture.response)
        }
    } setup: { try DPCFixture() }

    Benchmark("hand-off: condvar -> thread -> condvar back, C", configuration: handoff) { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            baseline_event_signal(fixture.request)
            baseline_event_wait(fixture.response)
        }
    } setup: { EchoFixture() }

    // MARK: Allocations of one interrupt's trip: raise -> ISR -> DPC

    let (allocationTime, allocationIterations) = limits(seconds: 3, iterations: 5_000)
    Benchmark("allocations: raise -> ISR -> DPC, steady state", configuration: .init(
        metrics: [.mallocCountTotal, .wallClock], warmupIterations: 100, maxDuration: allocationTime, maxIterations: allocationIterations
    )) { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            fixture.simulated.raise()
            baseline_event_wait(fixture.response)
        }
    } setup: { try DPCFixture() }

    // MARK: MMIO

    Benchmark("mmio: 32-bit read, swift-uio MappedRegion (x1000)", configuration: quick) { benchmark, region in
        for _ in benchmark.scaledIterations {
            var sum: UInt32 = 0
            for _ in 0..<innerLoop { sum &+= (try? region.read(UInt32.self, at: 0x10)) ?? 0 }
            blackHole(sum)
        }
    } setup: { try SimulatedDevice(mapSizes: [4096]).mapRegion(0) }

    Benchmark("mmio: 32-bit read, swift-uio Register (x1000)", configuration: quick) { benchmark, register in
        for _ in benchmark.scaledIterations {
            var sum: UInt32 = 0
            for _ in 0..<innerLoop { sum &+= register.read() }
            blackHole(sum)
        }
    } setup: { try SimulatedDevice(mapSizes: [4096]).mapRegion(0).register(UInt32.self, at: 0x10) }

    Benchmark("mmio: 32-bit read, C volatile load (x1000)", configuration: quick) { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            blackHole(baseline_mmio_read_loop(fixture.address, innerLoop))
        }
    } setup: { try MMIOFixture() }
}

// MARK: - Fixtures

enum LockFixture {
    /// An interrupt object that is never started: its lock is all that is measured.
    static func interrupt() throws -> Interrupt<Int> {
        let device = Device(resources: try SimulatedDevice())
        return try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
    }
}

/// An interrupt whose lock another thread holds for as long as the fixture lives.
final class HeldLockFixture: @unchecked Sendable {
    let interrupt: Interrupt<Int>
    private let taken = baseline_event_create()!
    private let done = baseline_event_create()!

    init() throws {
        interrupt = try LockFixture.interrupt()
        let (interrupt, taken, done) = (interrupt, UnsafeSendable(taken), UnsafeSendable(done))
        Thread.start {
            interrupt.acquireLock()
            baseline_event_signal(taken.value)
            baseline_event_wait(done.value)
            interrupt.releaseLock()
        }
        baseline_event_wait(taken.value)
    }

    deinit { baseline_event_signal(done) }
}

/// A pthread spin lock, optionally held by this thread.
final class SpinFixture: @unchecked Sendable {
    let lock = baseline_spin_create()!
    private let held: Bool

    init(held: Bool = false) {
        self.held = held
        if held { baseline_spin_lock(lock) }
    }

    deinit {
        if held { baseline_spin_unlock(lock) }
        baseline_spin_destroy(lock)
    }
}

/// A started simulated device whose ISR queues the DPC and whose DPC signals `response`.
final class DPCFixture: @unchecked Sendable {
    let simulated: SimulatedDevice
    let device: Device
    let interrupt: Interrupt<Int>
    let response: OpaquePointer

    init() throws {
        simulated = try SimulatedDevice(kernelDriver: .unmasked)
        device = Device(resources: simulated)
        let response = baseline_event_create()!
        self.response = response
        let signal = UnsafeSendable(response)
        interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { interrupt, _ in interrupt.queueDPC(); return true },
            dpc: { _, _ in baseline_event_signal(signal.value) }), context: 0)
        try device.start()
    }

    deinit {
        device.stop()
        baseline_event_destroy(response)
    }
}

/// The C hand-off: an echo thread between two events.
final class EchoFixture: @unchecked Sendable {
    let request = baseline_event_create()!
    let response = baseline_event_create()!
    private let echo: OpaquePointer

    init() { echo = baseline_echo_start(request, response) }

    deinit {
        baseline_echo_stop(echo)
        baseline_event_destroy(request)
        baseline_event_destroy(response)
    }
}

/// The same mapped memory the Swift MMIO benchmark reads, for the C loop.
final class MMIOFixture: @unchecked Sendable {
    private let region: MappedRegion
    private let mapping: UnsafeMutableRawPointer
    let address: UnsafeRawPointer

    init() throws {
        region = try SimulatedDevice(mapSizes: [4096]).mapRegion(0)
        mapping = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        address = UnsafeRawPointer(mapping + 0x10)
    }

    deinit { mapping.deallocate() }
}

final class MutexBox: Sendable { let value = Mutex(0) }
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
