import CBaselines
import Synchronization
import UIO
import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// 1, 8, 64 interrupt objects on simulated devices, fired together: how threads, memory and
/// throughput grow with the number of objects.
struct ScaleBenchmark {
    let objectCounts: [Int]
    let seconds: Double
    let output: String

    func run() throws {
        var rows: [String] = []
        for count in objectCounts {
            let threadsBefore = threadCount()
            let memoryBefore = residentBytes()
            let done = DispatchCounter()
            var devices: [SimulatedDevice] = []
            var objects: [Device] = []
            for index in 0..<count {
                let simulated = try SimulatedDevice(number: index, kernelDriver: .uioPdrvGenirq)
                let device = Device(resources: simulated)
                _ = try Interrupt(parent: device, config: InterruptConfig<Int>(
                    isr: { interrupt, _ in interrupt.queueDPC(); return true },
                    dpc: { _, _ in done.add() }), context: 0)
                try device.start()
                devices.append(simulated)
                objects.append(device)
            }
            let threads = threadCount() - threadsBefore
            let memory = residentBytes() - memoryBefore
            // Fire all together, wait for every DPC, repeat.
            var fired = 0
            let begin = baseline_now_ns()
            let deadline = begin + UInt64(seconds * 1e9)
            while baseline_now_ns() < deadline {
                for device in devices { device.raise() }
                fired += count
                while done.value < fired { sched_yield() }
            }
            let elapsed = Double(baseline_now_ns() - begin) / 1e9
            for device in objects { device.stop() }
            let rate = Double(fired) / elapsed
            rows.append("  {\"objects\": \(count), \"threads\": \(threads), \"threads_per_object\": \(format(Double(threads) / Double(count))), "
                + "\"resident_bytes\": \(memory), \"resident_bytes_per_object\": \(memory / count), "
                + "\"interrupts_per_second\": \(format(rate, decimals: 0))}")
            print("scale: \(count) objects: \(threads) threads, \(memory / 1024) KiB resident, \(Int(rate)) interrupts/s")
        }
        try writeFile("\(output)/scale.json", "[\n" + rows.joined(separator: ",\n") + "\n]\n")
    }

    private func threadCount() -> Int { listDirectory("/proc/self/task").count }

    private func residentBytes() -> Int {
        let fields = (readFile("/proc/self/statm") ?? "").split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    final class DispatchCounter: Sendable {
        private let count = Atomic<Int>(0)
        func add() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }
}
