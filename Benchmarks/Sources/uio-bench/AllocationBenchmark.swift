import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// Allocations on the real interrupt path, in the guest on an edu device: an interrupt object
/// whose ISR acknowledges and queues a DPC, `interrupts` of them one at a time after a warm-up,
/// with the allocation counter (LD_PRELOAD) counting malloc, calloc, realloc and the aligned
/// allocations per thread. The verdict is on the total counted on the ISR and DPC threads over
/// the measured interrupts: the target is none at all.
struct AllocationBenchmark {
    let warmUp: Int
    let interrupts: Int
    let output: String

    func run() throws {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), ALLOCATION_COUNTS_SNAPSHOT) else {  // RTLD_DEFAULT
            throw BenchError("allocations: no allocation counter in the process: run with LD_PRELOAD=allocation_counter.so")
        }
        let snapshot = unsafeBitCast(symbol, to: allocation_counts_snapshot_fn.self)
        func counts() -> [Int32: allocation_counts] {
            var buffer = [allocation_counts](repeating: allocation_counts(), count: 4096)
            let count = buffer.withUnsafeMutableBufferPointer { snapshot($0.baseAddress, $0.count) }
            return Dictionary(buffer.prefix(count).map { ($0.tid, $0) }, uniquingKeysWith: { first, _ in first })
        }

        let uio = try UIODevice.first(.pci(vendor: Edu.vendor, device: Edu.device))
        let handle = try uio.open()
        let bar = try handle.mapRegion(0)
        let raise = try bar.register(UInt32.self, at: Edu.raiseInterrupt)
        let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
        let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
        let device = Device(resources: handle)
        let config = InterruptConfig<UInt32>(
            isr: { interrupt, _ in
                let pending = status.read()
                guard pending != 0 else { return false }
                acknowledge.write(pending)
                interrupt.withLockedContext { $0 |= pending }
                interrupt.queueDPC()
                return true
            },
            dpc: { interrupt, _ in interrupt.synchronize { $0 = 0 } })
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        // The ISR and DPC threads start now and inherit vCPU 1; the raiser moves to vCPU 0, so
        // each raise wakes them from their waits.
        _ = baseline_pin_to_cpu(1)
        try device.start()
        _ = baseline_pin_to_cpu(0)

        func raiseOneAtATime(_ count: Int) {
            for _ in 0..<count {
                let before = interrupt.statistics.dpcRuns
                raise.write(1)
                while interrupt.statistics.dpcRuns == before { yieldWhileWaiting() }
            }
        }
        raiseOneAtATime(warmUp)
        let before = counts()
        let started = baseline_now_ns()
        raiseOneAtATime(interrupts)
        let seconds = Double(baseline_now_ns() - started) / 1e9
        let after = counts()
        let statistics = interrupt.statistics
        device.stop()

        func total(_ c: allocation_counts) -> UInt64 { c.malloc_calls + c.calloc_calls + c.realloc_calls + c.aligned_calls }
        func name(_ c: allocation_counts) -> String {
            withUnsafeBytes(of: c.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let prefix = handle.threadPrefix
        let watched = ["\(prefix)-isr", "\(prefix)-dpc"]
        var lines = ["allocations on the interrupt path (edu, uio_pci_generic, TCG guest): \(warmUp) warm-up interrupts, then "
                     + "\(interrupts) one at a time in \(format(seconds)) s; ISR acknowledges and queues the DPC; "
                     + "\(statistics.dpcRuns) DPC runs, \(statistics.interrupts) interrupts in all"]
        lines.append(pad("thread", 20) + pad("malloc", 10) + pad("calloc", 10) + pad("realloc", 10) + pad("aligned", 10) + "total")
        var watchedTotal: UInt64 = 0
        var found: [String] = []
        var threadsJSON: [String] = []
        for (tid, end) in after.sorted(by: { $0.key < $1.key }) {
            let start = before[tid] ?? allocation_counts()
            let (m, c, r, a) = (end.malloc_calls - start.malloc_calls, end.calloc_calls - start.calloc_calls,
                                end.realloc_calls - start.realloc_calls, end.aligned_calls - start.aligned_calls)
            let threadName = name(end)
            let isWatched = watched.contains(threadName)
            if isWatched { watchedTotal += m + c + r + a; found.append(threadName) }
            guard isWatched || m + c + r + a > 0 else { continue }
            lines.append(pad("\(threadName) (\(tid))", 20) + pad("\(m)", 10) + pad("\(c)", 10) + pad("\(r)", 10) + pad("\(a)", 10) + "\(m + c + r + a)")
            threadsJSON.append("    {\"name\": \"\(threadName)\", \"tid\": \(tid), \"malloc\": \(m), \"calloc\": \(c), \"realloc\": \(r), \"aligned\": \(a)}")
        }
        // A thread that never allocated has no entry: it counted none.
        for missing in watched where !found.contains(missing) {
            lines.append(pad(missing, 20) + pad("0", 10) + pad("0", 10) + pad("0", 10) + pad("0", 10) + "0 (never allocated)")
        }
        let processTotal = after.values.reduce(0) { $0 + total($1) }
        let verdict = processTotal == 0 ? "the counter saw no allocation at all: it is not working"
            : watchedTotal == 0 ? "met" : "not met"
        lines.append("")
        lines.append("target: no allocation on \(watched.joined(separator: " and ")) over \(interrupts) interrupts: "
                     + "\(watchedTotal) counted, \(verdict) (the process allocated \(processTotal) times since it started)")
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/allocations.txt", table + "\n")
        try writeFile("\(output)/allocations.json", "{\n  \"warm_up\": \(warmUp),\n  \"interrupts\": \(interrupts),\n"
            + "  \"dpc_runs\": \(statistics.dpcRuns),\n  \"isr_and_dpc_allocations\": \(watchedTotal),\n  \"target\": \"\(verdict)\",\n"
            + "  \"threads\": [\n" + threadsJSON.joined(separator: ",\n") + "\n  ]\n}\n")
    }
}
