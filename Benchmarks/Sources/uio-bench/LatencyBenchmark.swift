import CBaselines
import QEMUDevices
import Synchronization
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// Interrupt round trip on a real edu device: raise → handler entered, for the framework's ISR
/// and for the raw C loop of the kernel's UIO documentation, interleaved in rounds in one boot.
///
/// The same shape for both: a raiser on vCPU 0 writes edu's raise register and spins until the
/// handler has acknowledged and re-armed; the handler — the framework's ISR thread, or a C thread
/// blocked in read() — runs on vCPU 1 and takes the time on entry. Times are CLOCK_MONOTONIC.
struct LatencyBenchmark {
    let rounds: Int
    let perRound: Int
    let output: String

    func run() throws {
        let uio = try UIODevice.first(.pci(vendor: Edu.vendor, device: Edu.device))
        var framework: [Double] = []
        var raw: [Double] = []
        var frameworkRates: [Double] = []
        var rawRates: [Double] = []
        for round in 0..<rounds {
            // Alternate which goes first, so neither always follows the other.
            let order = round % 2 == 0 ? [true, false] : [false, true]
            for useFramework in order {
                let (samples, seconds) = useFramework ? try measureFramework(uio) : try measureRaw(uio)
                if useFramework {
                    framework += samples
                    frameworkRates.append(Double(perRound) / seconds)
                } else {
                    raw += samples
                    rawRates.append(Double(perRound) / seconds)
                }
            }
        }
        try writeFile("\(output)/latency-framework.csv", framework.map { "\(Int($0))" }.joined(separator: "\n") + "\n")
        try writeFile("\(output)/latency-raw.csv", raw.map { "\(Int($0))" }.joined(separator: "\n") + "\n")
        let summary = [summarize("framework", framework, frameworkRates), summarize("raw C loop", raw, rawRates)]
        try writeFile("\(output)/latency.json", "[\n" + summary.joined(separator: ",\n") + "\n]\n")
        // Percentile curves for the plot: percentile, framework µs, raw µs.
        let (fw, rw) = (framework.sorted(), raw.sorted())
        let points = stride(from: 0.0, through: 99.0, by: 1.0).map { $0 } + [99.5, 99.9, 99.95, 99.99, 100]
        try writeFile("\(output)/latency-percentiles.tsv", "# percentile\tframework_us\traw_us\n"
            + points.map { "\($0)\t\(percentile(fw, $0) / 1000)\t\(percentile(rw, $0) / 1000)" }.joined(separator: "\n") + "\n")
        print("latency: \(rounds) rounds x \(perRound) interrupts each, framework and raw C loop interleaved")
    }

    private func summarize(_ name: String, _ samples: [Double], _ rates: [Double]) -> String {
        let sorted = samples.sorted()
        let rate = percentile(rates.sorted(), 50)
        return "  {\"name\": \"\(name)\", \"samples\": \(sorted.count), \"p50_ns\": \(percentile(sorted, 50)), "
            + "\"p99_ns\": \(percentile(sorted, 99)), \"p999_ns\": \(percentile(sorted, 99.9)), \"interrupts_per_second\": \(format(rate, decimals: 1))}"
    }

    /// The framework: an interrupt object whose ISR takes the time on entry and acknowledges.
    private func measureFramework(_ uio: UIODevice) throws -> ([Double], Double) {
        let handle = try uio.open()
        let bar = try handle.mapRegion(0)
        let raise = try bar.register(UInt32.self, at: Edu.raiseInterrupt)
        let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
        let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
        let entered = Samples(count: perRound)
        let device = Device(resources: handle)
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { interrupt, _ in
            let now = baseline_now_ns()
            let index = interrupt.withLockedContext { index in defer { index += 1 }; return index }
            entered.store(now, at: index)
            acknowledge.write(status.read())
            return true
        }), context: 0)
        // The ISR thread starts now and inherits vCPU 1; the raiser moves to vCPU 0.
        _ = baseline_pin_to_cpu(1)
        try device.start()
        _ = baseline_pin_to_cpu(0)
        var started = [UInt64](repeating: 0, count: perRound)
        let begin = baseline_now_ns()
        for index in 0..<perRound {
            started[index] = baseline_now_ns()
            raise.write(1)
            // The wake-up is counted after the ISR returned and the line was re-armed.
            while interrupt.statistics.wakeUps <= UInt64(index) { yieldWhileWaiting() }
        }
        let seconds = Double(baseline_now_ns() - begin) / 1e9
        device.stop()  // joins the ISR thread: its entry times are all written
        return ((0..<perRound).map { Double(entered.load(at: $0) &- started[$0]) }, seconds)
    }

    /// The raw loop, in C, on a handler thread.
    private func measureRaw(_ uio: UIODevice) throws -> ([Double], Double) {
        let fd = open(uio.devicePath, O_RDWR)
        let config = open(uio.parent.map { $0.sysPath + "/config" } ?? "", O_RDWR)
        guard fd >= 0, config >= 0 else { throw BenchError("cannot open \(uio.devicePath) or its config") }
        defer { close(fd); close(config) }
        guard let bar = mmap(nil, 0x10_0000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), bar != MAP_FAILED else {
            throw BenchError("cannot map BAR0")
        }
        defer { munmap(bar, 0x10_0000) }
        let registers = bar.assumingMemoryBound(to: UInt32.self)
        var entered = [UInt64](repeating: 0, count: perRound)
        var started = [UInt64](repeating: 0, count: perRound)
        let progress = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { progress.deallocate() }
        _ = baseline_pin_to_cpu(1)
        let handler = entered.withUnsafeMutableBufferPointer { buffer in
            baseline_uio_handler_start(fd, config, registers, perRound, buffer.baseAddress, progress)!
        }
        _ = baseline_pin_to_cpu(0)
        while baseline_load_acquire(progress) != 0 { yieldWhileWaiting() }
        let begin = baseline_now_ns()
        for index in 0..<perRound {
            started[index] = baseline_now_ns()
            registers[Edu.raiseInterrupt / 4] = 1
            while baseline_load_acquire(progress) <= UInt64(index) { yieldWhileWaiting() }
        }
        let seconds = Double(baseline_now_ns() - begin) / 1e9
        let status = baseline_uio_handler_join(handler)
        guard status == 0 else { throw BenchError("the raw loop failed: errno \(-status)") }
        return ((0..<perRound).map { Double(entered[$0] &- started[$0]) }, seconds)
    }

    /// Entry times the ISR writes and the raiser reads after the ISR ran.
    final class Samples: @unchecked Sendable {
        private let values: UnsafeMutablePointer<UInt64>
        init(count: Int) {
            values = .allocate(capacity: count)
            values.initialize(repeating: 0, count: count)
        }
        deinit { values.deallocate() }
        func store(_ value: UInt64, at index: Int) { values[index] = value }
        func load(at index: Int) -> UInt64 { values[index] }
    }
}

/// Between polls of a flag the handler's CPU sets.
@inline(__always) func yieldWhileWaiting() { sched_yield() }
