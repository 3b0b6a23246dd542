/// Reads what the benchmarks wrote into one folder and prints the figures and their ratios
/// against the baselines of the same run; writes them as `summary.csv` and `summary.json`.
struct Report {
    let directory: String

    /// A comparison: a swift-uio benchmark, its baseline, and the target for their ratio.
    struct Pair {
        let title: String
        let subject: String
        let baseline: String
        let target: Double
    }

    static let pairs = [
        Pair(title: "MMIO read, checked (MappedRegion.read)", subject: "mmio: 32-bit read, swift-uio MappedRegion (x1000)",
             baseline: "mmio: 32-bit read, C volatile load (x1000)", target: .nan),
        Pair(title: "MMIO read, Register", subject: "mmio: 32-bit read, swift-uio Register (x1000)",
             baseline: "mmio: 32-bit read, C volatile load (x1000)", target: 1.05),
    ]

    func run() throws {
        let wallClock = readPercentiles(metric: "wallClock")
        let mallocs = readPercentiles(metric: "mallocCountTotal")
        var csv = ["measurement,subject_p50,baseline_p50,ratio_p50,subject_p99,baseline_p99,ratio_p99,target,met"]
        var json: [String] = []
        var lines: [String] = []
        func row(_ title: String, _ subject: (Double, Double, Double), _ baseline: (Double, Double, Double), unit: String,
                 target: Double) {
            let r50 = subject.0 / baseline.0
            let r99 = subject.1 / baseline.1
            let met = target.isNaN ? "-" : (r50 <= target ? "yes" : "no")
            let targetText = target.isNaN ? "-" : "<= " + format(target) + "x"
            lines.append(pad(title, 44) + pad(format(subject.0) + " " + unit, 14) + pad(format(baseline.0) + " " + unit, 14)
                         + pad(format(r50) + "x", 9) + pad(format(r99) + "x", 9) + pad(targetText, 10) + met)
            csv.append("\"\(title)\",\(subject.0),\(baseline.0),\(r50),\(subject.1),\(baseline.1),\(r99),\(targetText),\(met)")
            json.append("  {\"measurement\": \"\(title)\", \"subject_p50\": \(subject.0), \"baseline_p50\": \(baseline.0), "
                        + "\"ratio_p50\": \(format(r50, decimals: 3)), \"subject_p99\": \(subject.1), \"baseline_p99\": \(baseline.1), "
                        + "\"ratio_p99\": \(format(r99, decimals: 3)), \"target\": \"\(targetText)\", \"met\": \"\(met)\"}")
        }
        /// A throughput row: bigger is better, so the target is a floor.
        func rateRow(_ title: String, _ subject: Double, _ baseline: Double, atLeast target: Double?) {
            let ratio = subject / baseline
            let targetText = target.map { ">= " + format($0) + "x" } ?? "-"
            let met = target.map { ratio >= $0 ? "yes" : "no" } ?? "-"
            lines.append(pad(title, 44) + pad(format(subject, decimals: 0), 14) + pad(format(baseline, decimals: 0), 14)
                         + pad(format(ratio) + "x", 18) + pad(targetText, 10) + met)
            csv.append("\"\(title)\",\(subject),\(baseline),\(ratio),,,,\(targetText),\(met)")
            json.append("  {\"measurement\": \"\(title)\", \"subject\": \(subject), \"baseline\": \(baseline), \"ratio\": \(format(ratio, decimals: 3))}")
        }
        lines.append(pad("measurement (p50; ratio = swift-uio / baseline)", 44) + pad("swift-uio", 14) + pad("baseline", 14)
                     + pad("p50", 9) + pad("p99", 9) + pad("target", 10) + "met")
        for pair in Self.pairs {
            guard let subject = wallClock[pair.subject.fileName], let baseline = wallClock[pair.baseline.fileName] else {
                lines.append(pad(pair.title, 44) + "not measured in this run")
                continue
            }
            let perOperation = pair.subject.contains("(x1000)") ? 1000.0 : 1.0
            let divide = { (p: (Double, Double, Double)) in (p.0 / perOperation, p.1 / perOperation, p.2 / perOperation) }
            row(pair.title, divide(subject), divide(baseline), unit: "ns", target: pair.target)
        }
        if let platform = readRates("platform.json"), platform.count == 3 {
            rateRow("irqcontrol re-arm storm, per second (aarch64)", platform[0], platform[1], atLeast: nil)
            rateRow("  against the C loop with the same ppoll", platform[0], platform[2], atLeast: nil)
        } else {
            lines.append("irqcontrol re-arm storm (aarch64 guest): not measured in this run")
        }
        if let allocations = mallocs["allocations: raise -> ISR -> DPC, steady state".fileName] {
            lines.append(pad("allocations per interrupt (raise -> ISR -> DPC)", 44) + pad(format(allocations.0, decimals: 0), 14)
                         + pad("-", 14) + pad("", 18) + pad("0", 10) + (allocations.0 == 0 ? "yes" : "no"))
            csv.append("\"allocations per interrupt\",\(allocations.0),,,\(allocations.1),,,0,\(allocations.0 == 0 ? "yes" : "no")")
            json.append("  {\"measurement\": \"allocations per interrupt\", \"p50\": \(allocations.0), \"p99\": \(allocations.1)}")
        }
        // The guest's latency, DMA copies and VFIO are TCG smoke: their own tables, with per-round ratios, none a summary target.
        for table in ["native.txt", "hog.txt", "locks.txt", "latency.txt", "realtime.txt", "allocations.txt", "dma.txt", "vfio.txt"] {
            if let text = readFile("\(directory)/\(table)") { lines.append(""); lines.append(String(text.dropLast(text.hasSuffix("\n") ? 1 : 0))) }
        }
        if let scale = readFile("\(directory)/scale.json") {
            lines.append("scale (simulated sources, fired together):")
            for line in scale.split(separator: "\n") where line.contains("objects") { lines.append("  " + line.trimmingCharacters()) }
        }
        print(lines.joined(separator: "\n"))
        try writeFile("\(directory)/summary.csv", csv.joined(separator: "\n") + "\n")
        try writeFile("\(directory)/summary.json", "[\n" + json.joined(separator: ",\n") + "\n]\n")
    }

    /// Benchmark name → (p50, p99, p99.9) in nanoseconds (or counts), from ordo-one's TSV export.
    private func readPercentiles(metric: String) -> [String: (Double, Double, Double)] {
        var result: [String: (Double, Double, Double)] = [:]
        let prefix = "Current_run.InterruptBenchmarks."
        let suffix = ".\(metric).histogram.percentiles.tsv"
        for file in listDirectory(directory) where file.hasPrefix(prefix) && file.hasSuffix(suffix) {
            let name = String(file.dropFirst(prefix.count).dropLast(suffix.count))
            guard let text = readFile("\(directory)/\(file)") else { continue }
            let lines = text.split(separator: "\n")
            guard let header = lines.first else { continue }
            let scale: Double = header.contains("(μs)") ? 1000 : header.contains("(ms)") ? 1_000_000 : header.contains("(s)") ? 1e9 : 1
            var values: [String: Double] = [:]
            for line in lines.dropFirst() {
                let fields = line.split(separator: "\t")
                if fields.count == 2, let value = Double(fields[1]) { values[String(fields[0])] = value * scale }
            }
            if let p50 = values["50"], let p99 = values["99"] { result[name] = (p50, p99, values["99.9"] ?? p99) }
        }
        return result
    }

    /// The interrupts per second of each side in a guest's JSON, in its order.
    private func readRates(_ file: String) -> [Double]? {
        guard let text = readFile("\(directory)/\(file)") else { return nil }
        return text.split(separator: "\n").compactMap { jsonNumber("interrupts_per_second", in: $0) }
    }

    /// The number after `"key": ` on one line of the guests' one-object-a-line JSON.
    private func jsonNumber(_ key: String, in line: Substring) -> Double? {
        guard let range = line.firstRange(of: "\"\(key)\": ") else { return nil }
        return Double(line[range.upperBound...].prefix { $0 != "," && $0 != "}" }.trimmingCharacters())
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    /// How ordo-one names a benchmark's export file: spaces become underscores.
    var fileName: String { String(map { $0 == " " ? "_" : $0 }) }
}
