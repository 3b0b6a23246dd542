// Benchmarks of swift-uio on the host that ordo-one/benchmark measures well: MMIO reads from
// Swift against C, and the allocations of one interrupt's trip through ISR and DPC. The locks,
// the hand-off and the interrupt path are timed in nanoseconds by `uio-bench locks` and
// `uio-bench native`, whose C baselines are timed in C.

import Benchmark
import CBaselines
import Foundation
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

struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
