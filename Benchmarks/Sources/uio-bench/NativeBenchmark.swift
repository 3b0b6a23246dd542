import CBaselines
import UIO
import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// The interrupt path on the host, an eventfd as the interrupt: raise → ISR entry, raise → DPC
/// entry and the ISR → DPC hand-off of the framework's interrupt object, against C baselines
/// built and timed in C, interleaved in rounds.
///
/// One raiser (C, `interrupt_raise_all`) serves every variant: it fires only when the handler
/// threads are asleep in their waits ('S' in /proc) and after a settle time drawn from a
/// fixed-seed generator, so a figure does not depend on how deeply the CPU had idled. The
/// handlers take the time on entry with the same C function: at the top of the ISR and DPC
/// closures for the framework, right after read() returns for C. The raiser has one CPU; the
/// ISR and DPC threads share the other, as Windows runs a DPC on the processor that queued it.
struct NativeBenchmark {
    let rounds: Int
    let raisesPerRound: Int
    let settleNanoseconds: ClosedRange<UInt64>
    let output: String

    static let seed: UInt64 = 0x0014_5EED

    enum Variant: Int, CaseIterable {
        case frameworkISR, frameworkDPC, blockingRead, ppollRead, lockedHandOff, frameworkDPCOnISRThread

        var title: String {
            switch self {
            case .frameworkISR: "swift-uio Interrupt, ISR only"
            case .frameworkDPC: "swift-uio Interrupt, ISR queues DPC"
            case .blockingRead: "C (a) read() blocking"
            case .ppollRead: "C (b) ppoll + read()"
            case .lockedHandOff: "C (c) (b) + spin lock + condvar DPC"
            case .frameworkDPCOnISRThread: "swift-uio, DPC on the ISR thread"
            }
        }

        var key: String {
            switch self {
            case .frameworkISR: "framework_isr"
            case .frameworkDPC: "framework_isr_dpc"
            case .blockingRead: "c_blocking_read"
            case .ppollRead: "c_ppoll_read"
            case .lockedHandOff: "c_ppoll_lock_condvar_dpc"
            case .frameworkDPCOnISRThread: "framework_isr_dpc_on_isr_thread"
            }
        }

        var hasDPC: Bool { self == .frameworkDPC || self == .lockedHandOff || self == .frameworkDPCOnISRThread }
    }

    /// What one variant measured in one round, in nanoseconds.
    struct Measured {
        var isr: [Double] = []
        var dpc: [Double] = []
        var handOff: [Double] = []
        var raisedBeforeWaiting = 0
        var raises = 0
    }

    func run() throws {
        let cpus = Int32(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let raiserCPU: Int32 = 0
        let handlerCPU: Int32 = cpus > 1 ? 1 : 0
        let conditions = RunConditions()
        let pinning = "raiser pinned to CPU \(raiserCPU); ISR and DPC threads pinned to CPU \(handlerCPU) "
            + "(each by its first entry, on the warm-up raise); \(cpus) CPUs online"
        print("native: \(rounds) rounds (the first discarded) x \(raisesPerRound) raises per variant, settle "
              + "\(settleNanoseconds.lowerBound / 1000)-\(settleNanoseconds.upperBound / 1000) us; \(pinning); \(conditions.text)")

        // measured[variant][round], the warm-up round left out
        var measured = [[Measured]](repeating: [], count: Variant.allCases.count)
        for round in 0..<rounds {
            // Rotate the order each round, so no variant always follows another.
            let order = Variant.allCases.indices.map { Variant.allCases[($0 + round) % Variant.allCases.count] }
            let pacing = interrupt_pacing(seed: Self.seed &+ UInt64(round), settle_min_ns: settleNanoseconds.lowerBound,
                                           settle_max_ns: settleNanoseconds.upperBound, raiser_cpu: raiserCPU,
                                           expect_dpc: 0)
            for variant in order {
                let result = try measure(variant, pacing: pacing, handlerCPU: handlerCPU)
                if round > 0 { measured[variant.rawValue].append(result) }
            }
        }
        try report(measured, pinning: pinning, conditions: conditions)
    }

    private func measure(_ variant: Variant, pacing: interrupt_pacing, handlerCPU: Int32) throws -> Measured {
        let probe = interrupt_probe_create(raisesPerRound + 1, handlerCPU)!
        defer { interrupt_probe_destroy(probe) }
        var pacing = pacing
        pacing.expect_dpc = variant.hasDPC ? 1 : 0
        let status: Int32
        switch variant {
        case .frameworkISR, .frameworkDPC: status = try runFramework(probe, pacing: pacing, queueDPC: variant.hasDPC)
        case .frameworkDPCOnISRThread: status = try runFramework(probe, pacing: pacing, queueDPC: true, dpcOnISRThread: true)
        case .blockingRead: status = interrupt_baseline_run(INTERRUPT_BASELINE_BLOCKING_READ, probe, pacing)
        case .ppollRead: status = interrupt_baseline_run(INTERRUPT_BASELINE_PPOLL_READ, probe, pacing)
        case .lockedHandOff: status = interrupt_baseline_run(INTERRUPT_BASELINE_LOCKED_HANDOFF, probe, pacing)
        }
        guard status == 0 else { throw BenchError("native: \(variant.title) failed: errno \(-status)") }
        let p = probe.pointee
        var result = Measured()
        result.raises = raisesPerRound
        result.raisedBeforeWaiting = p.raised_before_waiting
        for index in 1..<p.raises {  // index 0 is the warm-up raise
            result.isr.append(Double(p.isr_entered[index] &- p.raised[index]))
            if variant.hasDPC {
                result.dpc.append(Double(p.dpc_entered[index] &- p.raised[index]))
                result.handOff.append(Double(p.dpc_entered[index] &- p.dpc_queued[index]))
            }
        }
        return result
    }

    /// The framework's interrupt object on an eventfd device; the raiser writes its eventfd.
    private func runFramework(_ probe: UnsafeMutablePointer<interrupt_probe>, pacing: interrupt_pacing,
                              queueDPC: Bool, dpcOnISRThread: Bool = false) throws -> Int32 {
        let resources = try EventfdDevice(vectors: 1)
        let device = Device(resources: resources)
        let handle = ProbeHandle(probe)
        var config = queueDPC
            ? InterruptConfig<Int>(
                isr: { interrupt, _ in
                    interrupt_probe_isr_entered(handle.probe)
                    interrupt_probe_dpc_queued(handle.probe)
                    interrupt.queueDPC()
                    return true
                },
                dpc: { _, _ in interrupt_probe_dpc_entered(handle.probe) })
            : InterruptConfig<Int>(isr: { _, _ in
                interrupt_probe_isr_entered(handle.probe)
                return true
            })
        if dpcOnISRThread { config.dpcPlacement = .serviceThread }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        let source = resources.sources[0]
        return withExtendedLifetime((interrupt, source)) {
            interrupt_raise_all(probe, pacing, { context in
                Unmanaged<EventfdInterruptSource>.fromOpaque(context!).takeUnretainedValue().raise()
            }, Unmanaged.passUnretained(source).toOpaque())
        }
    }

    private func report(_ measured: [[Measured]], pinning: String, conditions: RunConditions) throws {
        func pooled(_ variant: Variant, _ path: KeyPath<Measured, [Double]>) -> [Double] {
            measured[variant.rawValue].flatMap { $0[keyPath: path] }
        }
        func perRoundMedians(_ variant: Variant, _ path: KeyPath<Measured, [Double]>) -> [Double] {
            measured[variant.rawValue].map { percentile($0[keyPath: path].sorted(), 50) }
        }
        var lines = ["native interrupt path (eventfd), nanoseconds; " + pinning + "; at the start: " + conditions.text]
        lines.append(pad("variant", 40) + pad("raise->ISR p50/p99/p99.9", 30) + pad("raise->DPC p50/p99/p99.9", 30)
                     + pad("hand-off p50/p99/p99.9", 30) + "raised before waiting")
        var variantsJSON: [String] = []
        for variant in Variant.allCases {
            let isr = Spread(pooled(variant, \.isr))
            let dpc = Spread(pooled(variant, \.dpc))
            let handOff = Spread(pooled(variant, \.handOff))
            let early = measured[variant.rawValue].reduce(0) { $0 + $1.raisedBeforeWaiting }
            let raises = measured[variant.rawValue].reduce(0) { $0 + $1.raises }
            let fraction = raises > 0 ? Double(early) / Double(raises) : .nan
            func three(_ s: Spread) -> String {
                s.count == 0 ? "-" : "\(whole(s.p50)) / \(whole(s.p99)) / \(whole(s.p999))"
            }
            lines.append(pad(variant.title, 40) + pad(three(isr), 30) + pad(three(dpc), 30) + pad(three(handOff), 30)
                         + "\(early)/\(raises) (\(format(fraction * 100, decimals: 2))%)")
            variantsJSON.append("    \"\(variant.key)\": {\"raise_to_isr\": \(isr.json), "
                + (variant.hasDPC ? "\"raise_to_dpc\": \(dpc.json), \"hand_off\": \(handOff.json), " : "")
                + "\"raised_before_waiting\": \(early), \"raises\": \(raises)}")
        }

        let comparisons: [(String, String, Variant, Variant, KeyPath<Measured, [Double]>)] = [
            ("raise->ISR entry: ISR only / C (a) read()", "isr_vs_blocking_read", .frameworkISR, .blockingRead, \.isr),
            ("raise->ISR entry: ISR only / C (b) ppoll+read()", "isr_vs_ppoll_read", .frameworkISR, .ppollRead, \.isr),
            ("raise->ISR entry: ISR+DPC / C (c)", "isr_dpc_vs_locked_handoff", .frameworkDPC, .lockedHandOff, \.isr),
            ("raise->DPC entry: ISR+DPC / C (c)", "dpc_vs_locked_handoff", .frameworkDPC, .lockedHandOff, \.dpc),
            ("hand-off, queued->DPC entry / C (c)", "handoff_vs_condvar", .frameworkDPC, .lockedHandOff, \.handOff),
            ("raise->DPC entry: DPC on the ISR thread / C (c)", "dpc_on_isr_thread_vs_locked_handoff", .frameworkDPCOnISRThread, .lockedHandOff, \.dpc),
        ]
        lines.append("")
        lines.append(pad("ratio swift-uio / C", 50) + pad("p50: median of rounds [95% bootstrap]", 44) + pad("pooled p99", 12) + "pooled p99.9")
        var ratiosJSON: [String] = []
        for (title, key, subject, baseline, path) in comparisons {
            // The DPC on the ISR thread skips the hand-off the baseline makes: not the same work,
            // so a ratio below 0.9 is the option's point, not a suspect baseline.
            let ratio = RoundRatio(subject: perRoundMedians(subject, path), baseline: perRoundMedians(baseline, path),
                                   flagsLowRatio: subject != .frameworkDPCOnISRThread)
            let (s, b) = (Spread(pooled(subject, path)), Spread(pooled(baseline, path)))
            lines.append(pad(title, 50) + pad(ratio.text, 44) + pad(format(s.p99 / b.p99) + "x", 12) + format(s.p999 / b.p999) + "x")
            ratiosJSON.append("    \"\(key)\": {\"p50_per_round\": \(ratio.json), \"p99_pooled\": \(format(s.p99 / b.p99, decimals: 3)), "
                + "\"p999_pooled\": \(format(s.p999 / b.p999, decimals: 3))}")
        }
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/native.txt", table + "\n")
        let json = "{\n  \"pinning\": \"\(pinning)\",\n  \"conditions\": \(conditions.json),\n  \"rounds\": \(rounds - 1),\n  \"raises_per_round\": \(raisesPerRound),\n"
            + "  \"settle_ns\": [\(settleNanoseconds.lowerBound), \(settleNanoseconds.upperBound)],\n  \"seed\": \(Self.seed),\n"
            + "  \"variants\": {\n" + variantsJSON.joined(separator: ",\n") + "\n  },\n"
            + "  \"ratios\": {\n" + ratiosJSON.joined(separator: ",\n") + "\n  }\n}\n"
        try writeFile("\(output)/native.json", json)
    }
}

/// The probe, for the ISR and DPC closures (they run on the framework's threads; the C side
/// orders their writes with the raiser's reads).
struct ProbeHandle: @unchecked Sendable {
    let probe: UnsafeMutablePointer<interrupt_probe>
    init(_ probe: UnsafeMutablePointer<interrupt_probe>) { self.probe = probe }
}
