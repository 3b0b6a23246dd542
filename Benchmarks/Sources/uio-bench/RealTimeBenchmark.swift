import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// Interrupt latency under a CPU hog, for real-time users (run it on a PREEMPT_RT kernel): the
/// framework's ISR thread at `SCHED_FIFO` against the same thread at normal priority and against
/// the raw C loop at the same `SCHED_FIFO` priority. The worst case is what real-time users buy,
/// so the table gives p99 and max beside p50.
///
/// The protocol is `latency`'s (`interrupt_path.h`): the raiser on vCPU 0 raises only while the
/// handler sleeps in its wait, after a settle time drawn from a fixed-seed generator. Every
/// handler runs on vCPU 1, where the IRQ is delivered too (so the kernel's interrupt threads of a
/// PREEMPT_RT kernel run there), and throughout the run a busy thread at normal priority runs on
/// vCPU 1 alone: a handler at normal priority shares its vCPU with it, while the raiser's vCPU
/// stays free, so its own delays do not enter the figures. Rounds rotate the variants; the first
/// is a warm-up and discarded. Per-round p99 and max come from `raisesPerRound` samples each
/// (nearest rank: with 100, p99 is the second largest). Guest times are the emulator's (TCG):
/// compared only as ratios within one boot.
struct RealTimeBenchmark {
    let rounds: Int
    let raisesPerRound: Int
    let settleNanoseconds: ClosedRange<UInt64>
    let output: String

    /// Below the kernel's threaded interrupt handlers (50 on PREEMPT_RT), which must run first to
    /// wake the handler; above every normal thread.
    static let priority: Int32 = 40
    static let seed: UInt64 = 0x0014_F1F0

    enum Variant: Int, CaseIterable {
        case frameworkNormal, frameworkFIFO, rawFIFO

        var title: String {
            switch self {
            case .frameworkNormal: "swift-uio ISR, normal priority"
            case .frameworkFIFO: "swift-uio ISR, SCHED_FIFO \(RealTimeBenchmark.priority)"
            case .rawFIFO: "raw C loop, SCHED_FIFO \(RealTimeBenchmark.priority)"
            }
        }

        var key: String {
            switch self {
            case .frameworkNormal: "framework_normal"
            case .frameworkFIFO: "framework_fifo"
            case .rawFIFO: "raw_c_loop_fifo"
            }
        }
    }

    typealias Measured = EduProbeRuns.Measured

    func run() throws {
        let uio = try UIODevice.first(.pci(vendor: Edu.vendor, device: Edu.device))
        guard let irq = uio.parent?.irq else { throw BenchError("realtime: \(uio.devicePath) names no IRQ") }
        let kernel = KernelIdentity(irq: irq)
        let conditions = RunConditions()
        let delivery = try EduProbeRuns.moveIRQ(irq, to: EduProbeRuns.handlerCPU, uio)
        print("realtime: \(rounds) rounds (the first discarded) x \(raisesPerRound) raises per variant, kernel \(kernel.text), "
              + "IRQ \(irq) on vCPU \(delivery), hog on vCPU \(EduProbeRuns.handlerCPU); \(conditions.text)")
        _ = baseline_pin_to_cpu(EduProbeRuns.raiserCPU)
        guard let hog = cpu_hog_start_on(EduProbeRuns.handlerCPU) else { throw BenchError("realtime: the CPU hog did not start") }
        defer { cpu_hogs_stop(hog) }

        // measured[variant][round], the warm-up round left out; nil for a failed run
        var measured = [[Measured?]](repeating: [], count: Variant.allCases.count)
        var failures: [String] = []
        for round in 0..<rounds {
            let pacing = interrupt_pacing(seed: Self.seed &+ UInt64(round), settle_min_ns: settleNanoseconds.lowerBound,
                                          settle_max_ns: settleNanoseconds.upperBound, raiser_cpu: EduProbeRuns.raiserCPU, expect_dpc: 0)
            for index in Variant.allCases.indices {
                let variant = Variant.allCases[(index + round) % Variant.allCases.count]
                var result: Measured?
                do {
                    result = try measure(variant, uio, pacing: pacing)
                } catch {
                    failures.append("round \(round), \(variant.title): \(error)")
                    print("realtime: " + failures.last!)
                }
                if round > 0 { measured[variant.rawValue].append(result) }
            }
        }
        try report(measured, failures: failures, kernel: kernel, irq: irq, delivery: delivery, conditions: conditions)
    }

    private func measure(_ variant: Variant, _ uio: UIODevice, pacing: interrupt_pacing) throws -> Measured {
        try EduProbeRuns.measure("realtime: \(variant.title)", raises: raisesPerRound,
                                 handlerCPU: variant == .rawFIFO ? EduProbeRuns.handlerCPU : nil) { probe in
            switch variant {
            case .rawFIFO:
                try EduProbeRuns.runRawUIO(uio, probe, pacing: pacing, handlerCPU: EduProbeRuns.handlerCPU, realTimePriority: Self.priority)
            case .frameworkNormal, .frameworkFIFO:
                try EduProbeRuns.runFramework(try uio.open(), probe, pacing: pacing, cpus: .these([Int(EduProbeRuns.handlerCPU)]),
                                              realTimePriority: variant == .frameworkFIFO ? Int(Self.priority) : nil)
            }
        }
    }

    private func report(_ measured: [[Measured?]], failures: [String], kernel: KernelIdentity, irq: Int, delivery: String,
                        conditions: RunConditions) throws {
        func pooled(_ variant: Variant) -> [Double] { measured[variant.rawValue].compactMap { $0 }.flatMap(\.latencies) }
        /// Per-round figures of two variants, over the rounds where both ran.
        func paired(_ subject: Variant, _ baseline: Variant, _ figure: (Spread) -> Double) -> ([Double], [Double]) {
            let pairs = zip(measured[subject.rawValue], measured[baseline.rawValue]).compactMap { pair -> (Double, Double)? in
                guard let s = pair.0, let b = pair.1 else { return nil }
                return (figure(Spread(s.latencies)), figure(Spread(b.latencies)))
            }
            return (pairs.map(\.0), pairs.map(\.1))
        }
        var lines = ["guest interrupt latency on edu under a CPU hog, raise -> handler entered, microseconds: TCG SMOKE, the emulator's time, "
                     + "not hardware's; kernel \(kernel.text); \(rounds - 1) rounds x \(raisesPerRound) raises, "
                     + "settle \(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; handlers on vCPU \(EduProbeRuns.handlerCPU) "
                     + "with IRQ \(irq) (effective \(delivery)) and a busy thread at normal priority; raiser on vCPU \(EduProbeRuns.raiserCPU); "
                     + "at the start: \(conditions.text)",
                     pad("variant", 40) + "p50 / p99 / max"]
        var variantsJSON: [String] = []
        for variant in Variant.allCases {
            let spread = Spread(pooled(variant))
            lines.append(pad(variant.title, 40)
                         + "\(format(spread.p50 / 1000, decimals: 1)) / \(format(spread.p99 / 1000, decimals: 1)) / \(format(spread.max / 1000, decimals: 1))")
            variantsJSON.append("    \"\(variant.key)\": \(spread.json)")
        }
        lines.append(pad("ratio, median of per-round ratios [95% bootstrap]", 62) + "p99; max")
        var ratiosJSON: [String] = []
        // Normal / FIFO is what the priority buys (no baseline of the same work: no flag);
        // framework / C is the framework's cost at the same priority.
        let comparisons: [(String, String, Variant, Variant, Bool)] = [
            ("swift-uio normal / swift-uio SCHED_FIFO", "framework_normal_vs_framework_fifo", .frameworkNormal, .frameworkFIFO, false),
            ("swift-uio SCHED_FIFO / raw C loop SCHED_FIFO", "framework_fifo_vs_raw_fifo", .frameworkFIFO, .rawFIFO, true),
        ]
        for (title, key, subject, baseline, sameWork) in comparisons {
            let p99 = paired(subject, baseline, \.p99)
            let max = paired(subject, baseline, \.max)
            let p99Ratio = RoundRatio(subject: p99.0, baseline: p99.1, flagsLowRatio: sameWork)
            let maxRatio = RoundRatio(subject: max.0, baseline: max.1, flagsLowRatio: sameWork)
            lines.append(pad("  " + title, 62) + p99Ratio.text + "; " + maxRatio.text)
            ratiosJSON.append("    \"\(key)\": {\"p99\": \(p99Ratio.json), \"max\": \(maxRatio.json)}")
        }
        lines.append("failed runs (a raise unhandled for 1 s, or no interrupt for 2 s): \(failures.count)")
        lines += failures.map { "  " + $0 }
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/realtime.txt", table + "\n")
        try writeFile("\(output)/realtime.json", "{\n  \"smoke\": \"TCG guest: the emulator's microseconds\",\n  \"kernel\": \(kernel.json),\n"
            + "  \"priority\": \(Self.priority),\n  \"irq\": \(irq),\n  \"irq_effective_affinity\": \"\(delivery)\",\n"
            + "  \"hog_cpu\": \(EduProbeRuns.handlerCPU),\n  \"conditions\": \(conditions.json),\n"
            + "  \"rounds\": \(rounds - 1),\n  \"raises_per_round\": \(raisesPerRound),\n  \"seed\": \(Self.seed),\n"
            + "  \"failed_runs\": \(failures.count),\n  \"variants\": {\n" + variantsJSON.joined(separator: ",\n") + "\n  },\n"
            + "  \"ratios\": {\n" + ratiosJSON.joined(separator: ",\n") + "\n  }\n}\n")
    }
}

/// The running kernel, as it describes itself: its release, whether it is a PREEMPT_RT build
/// (`/sys/kernel/realtime` holds 1 on one), and the kernel threads that handle an IRQ
/// (`irq/N-name`, with their policy and real-time priority), which the ISR thread must not
/// outrank on the IRQ's CPU.
struct KernelIdentity {
    let release: String
    let realTime: Bool
    /// "irq/11-uio_pci_ FIFO 50", one per thread.
    let irqThreads: [String]

    init(irq: Int) {
        var name = utsname()
        uname(&name)
        release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        realTime = readFile("/sys/kernel/realtime")?.hasPrefix("1") ?? false
        var threads: [String] = []
        if let directory = opendir("/proc") {
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let pid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard pid.allSatisfy(\.isNumber), let comm = readFile("/proc/\(pid)/comm")?.split(separator: "\n").first,
                      comm.hasPrefix("irq/\(irq)-"), let stat = readFile("/proc/\(pid)/stat") else { continue }
                // After the command name's closing parenthesis come fields 3 onwards (field k at
                // k - 3): rt_priority is field 40, policy 41.
                let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
                guard fields.count > 38 else { continue }
                let policy = ["OTHER", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"][min(Int(fields[38]) ?? 0, 6)]
                threads.append("\(comm) \(policy) \(fields[37])")
            }
        }
        irqThreads = threads.sorted()
    }

    var text: String {
        release + (realTime ? " (PREEMPT_RT)" : " (not PREEMPT_RT)") + "; IRQ threads: "
            + (irqThreads.isEmpty ? "none" : irqThreads.joined(separator: ", "))
    }

    var json: String {
        "{\"release\": \"\(release)\", \"preempt_rt\": \(realTime), \"irq_threads\": ["
            + irqThreads.map { "\"\($0)\"" }.joined(separator: ", ") + "]}"
    }
}
