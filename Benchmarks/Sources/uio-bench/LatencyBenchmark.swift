import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// Interrupt latency on a real edu device in the guest, raise → handler entered, for the raw C
/// loop of the kernel's UIO documentation and the framework's ISR, with the protocol of `native`.
///
/// The raiser (C, `interrupt_raise_all`, on vCPU 0) raises only when the handler thread is asleep
/// in its wait ('S' in /proc) and after a settle time of at least 200 µs drawn from a fixed-seed
/// generator; it counts the raises made while the handler was not asleep, and reads the handler
/// thread's context switches. The IRQ's affinity is set explicitly for each placement: on the
/// handler's vCPU 1, or on vCPU 0 (the raiser's). One raw loop and one framework variant run
/// their handler on vCPU 1; the others run it where the interrupt lands (the framework with
/// `.whereInterruptLands`, the raw loop pinned to the IRQ's vCPU), each compared with its like. Rounds interleave every variant; the first is a warm-up and discarded.
/// Guest times are the emulator's (TCG): a smoke figure, compared only within one run.
struct LatencyBenchmark {
    let rounds: Int
    let raisesPerRound: Int
    let settleNanoseconds: ClosedRange<UInt64>
    let output: String

    static let seed: UInt64 = 0x0014_1A7E
    static let raiserCPU = EduProbeRuns.raiserCPU
    static let handlerCPU = EduProbeRuns.handlerCPU

    enum Placement: Int, CaseIterable {
        case irqOnHandlerCPU, irqOnOtherCPU

        var irqCPU: Int32 { self == .irqOnHandlerCPU ? LatencyBenchmark.handlerCPU : LatencyBenchmark.raiserCPU }
        var title: String { self == .irqOnHandlerCPU ? "IRQ on the handler's vCPU" : "IRQ on the other vCPU (the raiser's)" }
        var key: String { self == .irqOnHandlerCPU ? "irq_on_handler_cpu" : "irq_on_other_cpu" }
    }

    enum Variant: Int, CaseIterable {
        case raw, rawWhereInterruptLands, frameworkPinned, frameworkWhereInterruptLands

        var title: String {
            switch self {
            case .raw: "raw C loop, read(), vCPU 1"
            case .rawWhereInterruptLands: "raw C loop, on the IRQ's vCPU"
            case .frameworkPinned: "swift-uio ISR, .these([1])"
            case .frameworkWhereInterruptLands: "swift-uio ISR, .whereInterruptLands"
            }
        }

        var key: String {
            switch self {
            case .raw: "raw_c_loop"
            case .rawWhereInterruptLands: "raw_c_loop_where_interrupt_lands"
            case .frameworkPinned: "framework_pinned"
            case .frameworkWhereInterruptLands: "framework_where_interrupt_lands"
            }
        }
    }

    typealias Measured = EduProbeRuns.Measured

    func run() throws {
        let uio = try UIODevice.first(.pci(vendor: Edu.vendor, device: Edu.device))
        guard let irq = uio.parent?.irq else { throw BenchError("latency: \(uio.devicePath) names no IRQ") }
        let conditions = RunConditions()
        print("latency: \(rounds) rounds (the first discarded) x \(raisesPerRound) raises per variant and placement, IRQ \(irq), "
              + "settle \(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; \(conditions.text)")
        _ = baseline_pin_to_cpu(Self.raiserCPU)

        // measured[placement][variant][round], the warm-up round left out; nil for a failed run
        var measured = [[[Measured?]]](repeating: [[Measured?]](repeating: [], count: Variant.allCases.count),
                                       count: Placement.allCases.count)
        var failures: [String] = []
        var delivery = [String](repeating: "-", count: Placement.allCases.count)
        for round in 0..<rounds {
            let pacing = interrupt_pacing(seed: Self.seed &+ UInt64(round), settle_min_ns: settleNanoseconds.lowerBound,
                                          settle_max_ns: settleNanoseconds.upperBound, raiser_cpu: Self.raiserCPU, expect_dpc: 0)
            // Alternate the placements and rotate the variants, so no run always follows another.
            let placements = round % 2 == 0 ? Placement.allCases : Placement.allCases.reversed()
            for placement in placements {
                do {
                    delivery[placement.rawValue] = try EduProbeRuns.moveIRQ(irq, to: placement.irqCPU, uio)
                } catch {
                    throw BenchError("round \(round), \(placement.title): \(error)")
                }
                let order = Variant.allCases.indices.map { Variant.allCases[($0 + round) % Variant.allCases.count] }
                for variant in order {
                    // A raise left unhandled (seen under TCG on a loaded host) fails this run
                    // only: it is reported, and its round drops out of that variant's ratios.
                    var result: Measured?
                    do {
                        result = try measure(variant, uio, pacing: pacing, irqCPU: placement.irqCPU)
                    } catch {
                        failures.append("round \(round), \(placement.title): \(error)")
                        print("latency: " + failures.last!)
                    }
                    if round > 0 { measured[placement.rawValue][variant.rawValue].append(result) }
                }
            }
        }
        try report(measured, failures: failures, irq: irq, delivery: delivery, conditions: conditions)
    }


    private func measure(_ variant: Variant, _ uio: UIODevice, pacing: interrupt_pacing, irqCPU: Int32) throws -> Measured {
        let rawCPU: Int32? = variant == .raw ? Self.handlerCPU : variant == .rawWhereInterruptLands ? irqCPU : nil
        return try EduProbeRuns.measure("latency: \(variant.title)", raises: raisesPerRound, handlerCPU: rawCPU) { probe in
            if let rawCPU {
                try EduProbeRuns.runRawUIO(uio, probe, pacing: pacing, handlerCPU: rawCPU)
            } else {
                try EduProbeRuns.runFramework(try uio.open(), probe, pacing: pacing,
                                              cpus: variant == .frameworkPinned ? .these([Int(Self.handlerCPU)]) : .whereInterruptLands)
            }
        }
    }

    private func report(_ measured: [[[Measured?]]], failures: [String], irq: Int, delivery: [String],
                        conditions: RunConditions) throws {
        func runs(_ placement: Placement, _ variant: Variant) -> [Measured] { measured[placement.rawValue][variant.rawValue].compactMap { $0 } }
        func pooled(_ placement: Placement, _ variant: Variant) -> [Double] { runs(placement, variant).flatMap(\.latencies) }
        /// The per-round p50s of two variants, over the rounds where both ran.
        func pairedMedians(_ placement: Placement, _ subject: Variant, _ baseline: Variant) -> ([Double], [Double]) {
            let pairs = zip(measured[placement.rawValue][subject.rawValue], measured[placement.rawValue][baseline.rawValue])
                .compactMap { pair -> (Double, Double)? in
                    guard let s = pair.0, let b = pair.1 else { return nil }
                    return (percentile(s.latencies.sorted(), 50), percentile(b.latencies.sorted(), 50))
                }
            return (pairs.map(\.0), pairs.map(\.1))
        }
        var lines = ["guest interrupt latency on edu, raise -> handler entered, microseconds: TCG SMOKE, the emulator's time, not hardware's; "
                     + "\(rounds - 1) rounds x \(raisesPerRound) raises, settle \(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; "
                     + "raiser on vCPU \(Self.raiserCPU); at the start: \(conditions.text)"]
        var placementsJSON: [String] = []
        for placement in Placement.allCases {
            lines.append("")
            lines.append("\(placement.title): IRQ \(irq) smp_affinity_list = \(placement.irqCPU), effective \(delivery[placement.rawValue])")
            lines.append(pad("variant", 40) + pad("p50 / p99 / p99.9", 26) + pad("raised before waiting", 26) + "context switches per interrupt")
            var variantsJSON: [String] = []
            for variant in Variant.allCases {
                let spread = Spread(pooled(placement, variant))
                let early = runs(placement, variant).reduce(0) { $0 + $1.raisedBeforeWaiting }
                let raises = runs(placement, variant).reduce(0) { $0 + $1.raises }
                let switches = runs(placement, variant).reduce(0) { $0 + $1.contextSwitches }
                let switchInterrupts = runs(placement, variant).reduce(0) { $0 + $1.contextSwitchInterrupts }
                let perInterrupt = switchInterrupts > 0 ? Double(switches) / Double(switchInterrupts) : .nan
                let earlyFraction = raises > 0 ? Double(early) / Double(raises) : .nan
                lines.append(pad(variant.title, 40)
                             + pad("\(format(spread.p50 / 1000, decimals: 1)) / \(format(spread.p99 / 1000, decimals: 1)) / \(format(spread.p999 / 1000, decimals: 1))", 26)
                             + pad("\(early)/\(raises) (\(format(earlyFraction * 100))%)", 26) + format(perInterrupt, decimals: 3))
                variantsJSON.append("      \"\(variant.key)\": {\"latency\": \(spread.json), \"raised_before_waiting\": \(early), \"raises\": \(raises), "
                                    + "\"context_switches_per_interrupt\": \(format(perInterrupt, decimals: 3))}")
            }
            lines.append(pad("ratio of p50s", 62) + "median of per-round ratios [95% bootstrap]")
            var ratiosJSON: [String] = []
            // The last compares two placements of the framework, not the framework with C: no flag.
            let comparisons: [(String, String, Variant, Variant, Bool)] = [
                ("swift-uio .these([1]) / raw C loop on vCPU 1", "framework_pinned_vs_raw", .frameworkPinned, .raw, true),
                ("swift-uio .whereInterruptLands / raw C loop on the IRQ's vCPU", "framework_where_interrupt_lands_vs_raw_where_interrupt_lands",
                 .frameworkWhereInterruptLands, .rawWhereInterruptLands, true),
                ("swift-uio .whereInterruptLands / swift-uio .these([1])", "framework_where_interrupt_lands_vs_framework_pinned",
                 .frameworkWhereInterruptLands, .frameworkPinned, false),
            ]
            for (title, key, subject, baseline, sameWork) in comparisons {
                let (subjectMedians, baselineMedians) = pairedMedians(placement, subject, baseline)
                let ratio = RoundRatio(subject: subjectMedians, baseline: baselineMedians, flagsLowRatio: sameWork)
                lines.append(pad("  " + title, 62) + ratio.text)
                ratiosJSON.append("      \"\(key)\": \(ratio.json)")
            }
            placementsJSON.append("    \"\(placement.key)\": {\"irq_cpu\": \(placement.irqCPU), \"effective_affinity\": \"\(delivery[placement.rawValue])\",\n"
                                  + variantsJSON.joined(separator: ",\n") + ",\n" + ratiosJSON.joined(separator: ",\n") + "\n    }")
        }
        lines.append("")
        lines.append("failed runs (a raise unhandled for 1 s, or no interrupt for 2 s): \(failures.count)")
        lines += failures.map { "  " + $0 }
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/latency.txt", table + "\n")
        try writeFile("\(output)/latency.json", "{\n  \"smoke\": \"TCG guest: the emulator's microseconds\",\n  \"irq\": \(irq),\n"
            + "  \"conditions\": \(conditions.json),\n  \"rounds\": \(rounds - 1),\n  \"raises_per_round\": \(raisesPerRound),\n"
            + "  \"settle_ns\": [\(settleNanoseconds.lowerBound), \(settleNanoseconds.upperBound)],\n  \"seed\": \(Self.seed),\n"
            + "  \"failed_runs\": \(failures.count),\n"
            + "  \"placements\": {\n" + placementsJSON.joined(separator: ",\n") + "\n  }\n}\n")
        // For the plot: percentile, framework µs, raw µs, with the IRQ on the handler's vCPU.
        let (fw, rw) = (pooled(.irqOnHandlerCPU, .frameworkPinned).sorted(), pooled(.irqOnHandlerCPU, .raw).sorted())
        try writeFile("\(output)/latency-framework.csv", fw.map { "\(Int($0))" }.joined(separator: "\n") + "\n")
        try writeFile("\(output)/latency-raw.csv", rw.map { "\(Int($0))" }.joined(separator: "\n") + "\n")
        let points = stride(from: 0.0, through: 99.0, by: 1.0).map { $0 } + [99.5, 99.9, 99.95, 99.99, 100]
        try writeFile("\(output)/latency-percentiles.tsv", "# percentile\tframework_us\traw_us\n"
            + points.map { "\($0)\t\(percentile(fw, $0) / 1000)\t\(percentile(rw, $0) / 1000)" }.joined(separator: "\n") + "\n")
    }
}

/// Between polls of a flag the handler's CPU sets.
@inline(__always) func yieldWhileWaiting() { sched_yield() }
