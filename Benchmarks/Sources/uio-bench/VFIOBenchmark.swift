import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// Interrupt latency through VFIO against UIO in one guest boot, with `latency`'s protocol
/// (`EduProbeRuns`): one edu on vfio-pci signalling MSI vector 0 to an eventfd, one edu on
/// uio_pci_generic raising INTx; on each, the framework's ISR and a raw C loop doing the same
/// (VFIO: poll, then read() on the eventfd, `vfio_msi.h`, polling as the UIO loop does so a lost
/// interrupt ends the run; UIO: the loop of `latency`).
///
/// Every handler runs on vCPU 1 and every IRQ's affinity is set to vCPU 1 (an MSI's IRQ exists
/// only while its vector is attached: it is set in each run, once attached); the raiser is on
/// vCPU 0. Rounds run each variant once, in an order rotated every round; the first round is a
/// warm-up and discarded. Each VFIO run opens the group and closes it again: the kernel lets one
/// opener have it at a time. The UIO re-arm (config space) comes after the probe and before the
/// raiser's next raise, so it is outside the measured time; what INTx adds inside it is the
/// kernel's masking in its handler and the IO-APIC's delivery.
/// Guest times are the emulator's (TCG): a smoke figure, compared only within one run.
struct VFIOBenchmark {
    let rounds: Int
    let raisesPerRound: Int
    let settleNanoseconds: ClosedRange<UInt64>
    let output: String

    static let seed: UInt64 = 0x0014_5F10
    static let raiserCPU = EduProbeRuns.raiserCPU
    static let handlerCPU = EduProbeRuns.handlerCPU

    enum Variant: Int, CaseIterable {
        case rawVFIO, frameworkVFIO, rawUIO, frameworkUIO

        var title: String {
            switch self {
            case .rawVFIO: "raw C loop, VFIO MSI, read(eventfd)"
            case .frameworkVFIO: "swift-uio ISR, VFIO MSI"
            case .rawUIO: "raw C loop, UIO INTx, read(uio)"
            case .frameworkUIO: "swift-uio ISR, UIO INTx"
            }
        }

        var key: String {
            switch self {
            case .rawVFIO: "raw_c_vfio_msi"
            case .frameworkVFIO: "framework_vfio_msi"
            case .rawUIO: "raw_c_uio_intx"
            case .frameworkUIO: "framework_uio_intx"
            }
        }
    }

    /// One run: what the probe measured, and which CPUs took the run's interrupts.
    struct Run {
        var measured: EduProbeRuns.Measured
        var irq: Int
        var interruptsPerCPU: [Int]
    }

    func run() throws {
        let uio = try UIODevice.first(.pci(vendor: Edu.vendor, device: Edu.device))
        guard let uioIRQ = uio.parent?.irq else { throw BenchError("vfio: \(uio.devicePath) names no IRQ") }
        guard let pci = try PCIDevice.find(.pci(vendor: Edu.vendor, device: Edu.device)).first(where: { $0.driver == PCIBinding.vfioDriver }) else {
            throw BenchError("vfio: no edu on vfio-pci (the guest needs one on vfio-pci beside the one on uio_pci_generic)")
        }
        let conditions = RunConditions()
        print("vfio: \(rounds) rounds (the first discarded) x \(raisesPerRound) raises per variant; VFIO \(pci.slot), UIO \(uio.devicePath) IRQ \(uioIRQ); "
              + "settle \(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; \(conditions.text)")
        _ = baseline_pin_to_cpu(Self.raiserCPU)
        // uio_pci_generic holds its line while bound: its affinity is set once, and fired once
        // so the IO-APIC moves it.
        try EduProbeRuns.writeAffinity(irq: uioIRQ, cpu: Self.handlerCPU)
        try EduProbeRuns.withRawUIODevice(uio) { fd, config, registers in
            var nanoseconds: UInt64 = 0
            let status = baseline_uio_round(fd, config, registers, &nanoseconds)
            guard status == 0 else { throw BenchError("vfio: the interrupt that moves IRQ \(uioIRQ) failed: errno \(-status)") }
        }

        // runs[variant][round], the warm-up round left out; nil for a failed run
        var runs = [[Run?]](repeating: [], count: Variant.allCases.count)
        var failures: [String] = []
        for round in 0..<rounds {
            let pacing = interrupt_pacing(seed: Self.seed &+ UInt64(round), settle_min_ns: settleNanoseconds.lowerBound,
                                          settle_max_ns: settleNanoseconds.upperBound, raiser_cpu: Self.raiserCPU, expect_dpc: 0)
            let order = Variant.allCases.indices.map { Variant.allCases[($0 + round) % Variant.allCases.count] }
            for variant in order {
                // A lost interrupt fails this run only: it is reported and drops out of the ratios.
                var result: Run?
                do {
                    result = try measure(variant, pci: pci, uio: uio, uioIRQ: uioIRQ, pacing: pacing)
                } catch {
                    failures.append("round \(round), \(variant.title): \(error)")
                    print("vfio: " + failures.last!)
                }
                if round > 0 { runs[variant.rawValue].append(result) }
            }
        }
        try report(runs, failures: failures, pci: pci, uio: uio, uioIRQ: uioIRQ, conditions: conditions)
    }

    private func measure(_ variant: Variant, pci: PCIDevice, uio: UIODevice, uioIRQ: Int, pacing: interrupt_pacing) throws -> Run {
        var irq = uioIRQ
        var perCPU: [Int] = []
        /// Counts the interrupts IRQ `irq` takes on each CPU while `raise` runs.
        func counting(_ irq: Int, _ raise: () throws -> Int32) rethrows -> Int32 {
            let before = interruptsPerCPU(irq: irq)
            let status = try raise()
            perCPU = zip(interruptsPerCPU(irq: irq), before).map { $0 - $1 }
            return status
        }
        let raw = variant == .rawVFIO || variant == .rawUIO
        let pinned = ServiceThreadPlacement.CPUs.these([Int(Self.handlerCPU)])
        let measured = try EduProbeRuns.measure("vfio: \(variant.title)", raises: raisesPerRound, handlerCPU: raw ? Self.handlerCPU : nil) { probe in
            switch variant {
            case .rawVFIO:
                return try runRawVFIO(pci.slot, probe, pacing: pacing) { vector, raise in
                    irq = vector
                    return counting(vector, raise)
                }
            case .frameworkVFIO:
                return try EduProbeRuns.runFramework(try pci.openVFIO(), probe, pacing: pacing, cpus: pinned) { interrupt, raise in
                    guard let vector = interrupt.info.vector else {
                        throw BenchError("the kernel lists no IRQ for \(pci.slot)'s MSI vector 0 (/proc/interrupts)")
                    }
                    irq = vector
                    try EduProbeRuns.writeAffinity(irq: vector, cpu: Self.handlerCPU)
                    return counting(vector, raise)
                }
            case .rawUIO:
                return try counting(uioIRQ) { try EduProbeRuns.runRawUIO(uio, probe, pacing: pacing, handlerCPU: Self.handlerCPU) }
            case .frameworkUIO:
                return try EduProbeRuns.runFramework(try uio.open(), probe, pacing: pacing, cpus: pinned) { _, raise in
                    counting(uioIRQ, raise)
                }
            }
        }
        return Run(measured: measured, irq: irq, interruptsPerCPU: perCPU)
    }

    /// The raw VFIO loop: the device opened, MSI attached, the IRQ's affinity set to the
    /// handler's vCPU, a C handler thread started there; `around` is given the IRQ and the raises.
    private func runRawVFIO(_ slot: String, _ probe: UnsafeMutablePointer<interrupt_probe>, pacing: interrupt_pacing,
                            around: (Int, () -> Int32) throws -> Int32) throws -> Int32 {
        var opened: OpaquePointer?
        let status = vfio_msi_raw_open(slot, &opened)
        guard status == 0, let raw = opened else {
            throw BenchError("opening \(slot) through VFIO failed: errno \(-status)\(status == -EBUSY ? " (the group is open elsewhere)" : "")")
        }
        defer { vfio_msi_raw_close(raw) }
        let table = readFile("/proc/interrupts") ?? ""
        guard let irq = KernelIRQ.number(handledBy: "vfio-msi[0](\(slot))", interrupts: table) else {
            throw BenchError("the kernel lists no vfio-msi[0](\(slot)) in /proc/interrupts")
        }
        try EduProbeRuns.writeAffinity(irq: irq, cpu: Self.handlerCPU)
        let registers = vfio_msi_raw_bar(raw)!
        registers[Edu.acknowledgeInterrupt / 4] = registers[Edu.interruptStatus / 4]  // nothing left over
        _ = baseline_pin_to_cpu(Self.handlerCPU)
        let handler = vfio_msi_probed_handler_start(raw, probe)!
        _ = baseline_pin_to_cpu(Self.raiserCPU)
        let raised = try around(irq) { interrupt_raise_all(probe, pacing, baseline_edu_raise, registers) }
        let handled = vfio_msi_probed_handler_join(handler)
        return raised != 0 ? raised : handled
    }

    /// IRQ `irq`'s count on each CPU, from its /proc/interrupts row; empty when it is not listed.
    private func interruptsPerCPU(irq: Int) -> [Int] {
        let lines = (readFile("/proc/interrupts") ?? "").split(separator: "\n")
        guard let cpus = lines.first?.split(separator: " ").count,
              let row = lines.first(where: { $0.split(separator: " ").first == "\(irq):" }) else { return [] }
        return row.split(separator: " ").dropFirst().prefix(cpus).map { Int($0) ?? 0 }
    }

    private func report(_ runs: [[Run?]], failures: [String], pci: PCIDevice, uio: UIODevice, uioIRQ: Int,
                        conditions: RunConditions) throws {
        func done(_ variant: Variant) -> [Run] { runs[variant.rawValue].compactMap { $0 } }
        /// The per-round p50s of two variants, over the rounds where both ran.
        func pairedMedians(_ subject: Variant, _ baseline: Variant) -> ([Double], [Double]) {
            let pairs = zip(runs[subject.rawValue], runs[baseline.rawValue]).compactMap { pair -> (Double, Double)? in
                guard let s = pair.0, let b = pair.1 else { return nil }
                return (percentile(s.measured.latencies.sorted(), 50), percentile(b.measured.latencies.sorted(), 50))
            }
            return (pairs.map(\.0), pairs.map(\.1))
        }
        let msiIRQs = Set(done(.rawVFIO).map(\.irq) + done(.frameworkVFIO).map(\.irq)).sorted().map(String.init).joined(separator: ",")
        var lines = ["guest interrupt latency, VFIO MSI against UIO INTx on two edu devices in one boot, raise -> handler entered, microseconds: "
                     + "TCG SMOKE, the emulator's time, not hardware's, compared only within this run; \(rounds - 1) rounds x \(raisesPerRound) raises, "
                     + "settle \(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; handlers and IRQs on vCPU \(Self.handlerCPU), "
                     + "raiser on vCPU \(Self.raiserCPU); at the start: \(conditions.text)",
                     "VFIO: \(pci.slot) on vfio-pci, IOMMU group \(pci.iommuGroup.map(String.init) ?? "?"), MSI vector 0 (IRQs \(msiIRQs.isEmpty ? "-" : msiIRQs)); "
                     + "UIO: \(uio.devicePath) on uio_pci_generic, INTx IRQ \(uioIRQ), effective affinity \(EduProbeRuns.effectiveAffinity(irq: uioIRQ))",
                     "",
                     pad("variant", 40) + pad("p50 / p99 / p99.9", 26) + pad("taken on vCPU \(Self.handlerCPU)", 20) + pad("raised before waiting", 26)
                     + "context switches per interrupt"]
        var variantsJSON: [String] = []
        for variant in Variant.allCases {
            let done = done(variant)
            let spread = Spread(done.flatMap(\.measured.latencies))
            let early = done.reduce(0) { $0 + $1.measured.raisedBeforeWaiting }
            let raises = done.reduce(0) { $0 + $1.measured.raises }
            let switches = done.reduce(0) { $0 + $1.measured.contextSwitches }
            let switchInterrupts = done.reduce(0) { $0 + $1.measured.contextSwitchInterrupts }
            let perInterrupt = switchInterrupts > 0 ? Double(switches) / Double(switchInterrupts) : .nan
            let earlyFraction = raises > 0 ? Double(early) / Double(raises) : .nan
            // Every interrupt of the runs, the warm-up raises included.
            let taken = done.reduce(0) { $0 + $1.interruptsPerCPU.reduce(0, +) }
            let onHandlerCPU = done.reduce(0) { $0 + ($1.interruptsPerCPU.dropFirst(Int(Self.handlerCPU)).first ?? 0) }
            lines.append(pad(variant.title, 40)
                         + pad("\(format(spread.p50 / 1000, decimals: 1)) / \(format(spread.p99 / 1000, decimals: 1)) / \(format(spread.p999 / 1000, decimals: 1))", 26)
                         + pad("\(onHandlerCPU)/\(taken)", 20)
                         + pad("\(early)/\(raises) (\(format(earlyFraction * 100))%)", 26) + format(perInterrupt, decimals: 3))
            variantsJSON.append("    \"\(variant.key)\": {\"latency\": \(spread.json), \"interrupts\": \(taken), \"interrupts_on_handler_cpu\": \(onHandlerCPU), "
                                + "\"raised_before_waiting\": \(early), \"raises\": \(raises), \"context_switches_per_interrupt\": \(format(perInterrupt, decimals: 3))}")
        }
        lines.append(pad("ratio of p50s", 56) + pad("median of per-round ratios [95% bootstrap] (range)", 52) + "target (median)")
        var ratiosJSON: [String] = []
        // Only the like-for-like pairs (the same path, framework and C) flag a low ratio.
        let comparisons: [(String, String, Variant, Variant, Bool, (String, (Double) -> Bool)?)] = [
            ("swift-uio VFIO MSI / raw C loop on VFIO MSI", "framework_vfio_msi_vs_raw_vfio_msi", .frameworkVFIO, .rawVFIO, true,
             ("<= 1.10x", { $0 <= 1.10 })),
            ("swift-uio VFIO MSI / swift-uio UIO INTx", "framework_vfio_msi_vs_framework_uio_intx", .frameworkVFIO, .frameworkUIO, false,
             ("< 1x", { $0 < 1 })),
            ("raw C VFIO MSI / raw C UIO INTx", "raw_vfio_msi_vs_raw_uio_intx", .rawVFIO, .rawUIO, false, nil),
            ("swift-uio UIO INTx / raw C loop on UIO INTx", "framework_uio_intx_vs_raw_uio_intx", .frameworkUIO, .rawUIO, true, nil),
        ]
        for (title, key, subject, baseline, sameWork, target) in comparisons {
            let (subjectMedians, baselineMedians) = pairedMedians(subject, baseline)
            let ratio = RoundRatio(subject: subjectMedians, baseline: baselineMedians, flagsLowRatio: sameWork)
            let range = ratio.perRound.isEmpty ? "-" : format(ratio.perRound.min()!) + "-" + format(ratio.perRound.max()!)
            let met = target.map { ratio.median.isFinite ? ($0.1(ratio.median) ? "met" : "not met") : "-" }
            lines.append(pad("  " + title, 56) + pad(ratio.text + " (" + range + ")", 52) + (target.map { "\($0.0): \(met!)" } ?? "-"))
            ratiosJSON.append("    \"\(key)\": " + String(ratio.json.dropLast())
                              + (target.map { ", \"target\": \"\($0.0)\", \"met\": \(met! == "met")" } ?? "") + "}")
        }
        lines.append("")
        lines.append("failed runs (a raise unhandled for 1 s, or no interrupt for 2 s): \(failures.count)")
        lines += failures.map { "  " + $0 }
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/vfio.txt", table + "\n")
        try writeFile("\(output)/vfio.json", "{\n  \"smoke\": \"TCG guest: the emulator's microseconds\",\n"
            + "  \"vfio_slot\": \"\(pci.slot)\",\n  \"uio_irq\": \(uioIRQ),\n  \"msi_irqs\": [\(msiIRQs)],\n"
            + "  \"conditions\": \(conditions.json),\n  \"rounds\": \(rounds - 1),\n  \"raises_per_round\": \(raisesPerRound),\n"
            + "  \"settle_ns\": [\(settleNanoseconds.lowerBound), \(settleNanoseconds.upperBound)],\n  \"seed\": \(Self.seed),\n"
            + "  \"handler_cpu\": \(Self.handlerCPU),\n  \"raiser_cpu\": \(Self.raiserCPU),\n  \"failed_runs\": \(failures.count),\n"
            + "  \"variants\": {\n" + variantsJSON.joined(separator: ",\n") + "\n  },\n"
            + "  \"ratios\": {\n" + ratiosJSON.joined(separator: ",\n") + "\n  }\n}\n")
    }
}
