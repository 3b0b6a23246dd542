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
    static let raiserCPU: Int32 = 0
    static let handlerCPU: Int32 = 1

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

    /// What one variant measured in one round.
    struct Measured {
        var latencies: [Double] = []
        var raisedBeforeWaiting = 0
        var raises = 0
        var contextSwitches: UInt64 = 0
        var contextSwitchInterrupts = 0
    }

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
                    delivery[placement.rawValue] = try setAffinity(irq: irq, cpu: placement.irqCPU, uio)
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

    /// Writes the IRQ's affinity and makes it take effect; returns the CPUs the kernel says it is
    /// delivered to.
    private func setAffinity(irq: Int, cpu: Int32, _ uio: UIODevice) throws -> String {
        let path = "/proc/irq/\(irq)/smp_affinity_list"
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw BenchError("latency: cannot open \(path): errno \(errno)") }
        let text = "\(cpu)\n"
        let written = write(fd, text, text.utf8.count)
        close(fd)
        guard written == text.utf8.count else { throw BenchError("latency: writing \(path) failed: errno \(errno)") }
        // The IO-APIC moves a level interrupt only when it next fires: fire it once.
        try withRawDevice(uio) { fd, config, registers in
            var nanoseconds: UInt64 = 0
            let status = baseline_uio_round(fd, config, registers, &nanoseconds)
            guard status == 0 else { throw BenchError("latency: the interrupt that moves IRQ \(irq) failed: errno \(-status)") }
        }
        let effective = readFile("/proc/irq/\(irq)/effective_affinity_list") ?? readFile(path) ?? "?"
        return effective.split(separator: "\n").first.map(String.init) ?? "?"
    }

    private func measure(_ variant: Variant, _ uio: UIODevice, pacing: interrupt_pacing, irqCPU: Int32) throws -> Measured {
        let rawCPU: Int32? = variant == .raw ? Self.handlerCPU : variant == .rawWhereInterruptLands ? irqCPU : nil
        let probe = interrupt_probe_create(raisesPerRound + 1, rawCPU ?? -1)!
        defer { interrupt_probe_destroy(probe) }
        let status = if let rawCPU {
            try runRaw(uio, probe, pacing: pacing, handlerCPU: rawCPU)
        } else {
            try runFramework(variant, uio, probe, pacing: pacing)
        }
        guard status == 0 else { throw BenchError("latency: \(variant.title) failed: errno \(-status)") }
        let p = probe.pointee
        var result = Measured()
        result.raises = raisesPerRound
        result.raisedBeforeWaiting = p.raised_before_waiting
        result.contextSwitches = p.isr_context_switches
        result.contextSwitchInterrupts = p.context_switch_interrupts
        result.latencies = (1..<p.raises).map { Double(p.isr_entered[$0] &- p.raised[$0]) }  // 0 is the warm-up raise
        return result
    }

    /// The framework: an interrupt object whose ISR takes the time on entry and acknowledges.
    private func runFramework(_ variant: Variant, _ uio: UIODevice, _ probe: UnsafeMutablePointer<interrupt_probe>,
                              pacing: interrupt_pacing) throws -> Int32 {
        let handle = try uio.open()
        let bar = try handle.mapRegion(0)
        let raiser = EduRaiser(try bar.register(UInt32.self, at: Edu.raiseInterrupt))
        let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
        let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
        acknowledge.write(status.read())  // nothing left over from the run before
        let handleProbe = ProbeHandle(probe)
        var config = InterruptConfig<Int>(isr: { _, _ in
            interrupt_probe_isr_entered(handleProbe.probe)
            acknowledge.write(status.read())
            return true
        })
        config.recordsTimings = false  // as the raw loop: no clock reads beyond the probe's
        config.serviceThreadPlacement = ServiceThreadPlacement(
            cpus: variant == .frameworkPinned ? .these([Int(Self.handlerCPU)]) : .whereInterruptLands)
        let device = Device(resources: handle)
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        return withExtendedLifetime((interrupt, raiser)) {
            interrupt_raise_all(probe, pacing, { context in
                Unmanaged<EduRaiser>.fromOpaque(context!).takeUnretainedValue().raise()
            }, Unmanaged.passUnretained(raiser).toOpaque())
        }
    }

    /// The raw loop, in C, on a handler thread started on `handlerCPU`.
    private func runRaw(_ uio: UIODevice, _ probe: UnsafeMutablePointer<interrupt_probe>, pacing: interrupt_pacing,
                        handlerCPU: Int32) throws -> Int32 {
        try withRawDevice(uio) { fd, config, registers in
            registers[Edu.acknowledgeInterrupt / 4] = registers[Edu.interruptStatus / 4]  // nothing left over
            _ = baseline_pin_to_cpu(handlerCPU)
            let handler = baseline_uio_probed_handler_start(fd, config, registers, probe)!
            _ = baseline_pin_to_cpu(Self.raiserCPU)
            let status = interrupt_raise_all(probe, pacing, baseline_edu_raise, registers)
            let handlerStatus = baseline_uio_probed_handler_join(handler)
            return status != 0 ? status : handlerStatus
        }
    }

    /// The device's node and config space opened and BAR0 mapped, without the framework.
    private func withRawDevice<R>(_ uio: UIODevice, _ body: (Int32, Int32, UnsafeMutablePointer<UInt32>) throws -> R) throws -> R {
        let fd = open(uio.devicePath, O_RDWR)
        let config = open(uio.parent.map { $0.sysPath + "/config" } ?? "", O_RDWR)
        defer { if fd >= 0 { close(fd) }; if config >= 0 { close(config) } }
        guard fd >= 0, config >= 0 else { throw BenchError("cannot open \(uio.devicePath) or its config") }
        guard let bar = mmap(nil, 0x10_0000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), bar != MAP_FAILED else {
            throw BenchError("cannot map BAR0")
        }
        defer { munmap(bar, 0x10_0000) }
        return try body(fd, config, bar.assumingMemoryBound(to: UInt32.self))
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

    /// The raise register, for the C raiser's callback.
    final class EduRaiser: @unchecked Sendable {
        let register: Register<UInt32>
        init(_ register: Register<UInt32>) { self.register = register }
        func raise() { register.write(1) }
    }
}

/// Between polls of a flag the handler's CPU sets.
@inline(__always) func yieldWhileWaiting() { sched_yield() }
