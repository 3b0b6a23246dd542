// uio-bench: the measurements ordo-one/benchmark cannot take, and the report.
//
//   uio-bench latency --out DIR [--rounds R] [--per-round K]   (in the guest, on an edu device)
//   uio-bench platform --out DIR [--rounds R] [--seconds S]    (in the aarch64 guest, on the PL031)
//   uio-bench scale --out DIR [--objects 1,8,64] [--seconds S]  (on the host, simulated devices)
//   uio-bench report --dir DIR                                  (the table, CSV and JSON)

#if canImport(Glibc)
import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String, default value: String) -> String {
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

do {
    switch arguments.first {
    case "latency":
        try LatencyBenchmark(
            rounds: Int(option("rounds", default: "10")) ?? 10,
            perRound: Int(option("per-round", default: "1000")) ?? 1000,
            output: option("out", default: ".")).run()
    case "platform":
        try PlatformBenchmark(
            rounds: Int(option("rounds", default: "6")) ?? 6,
            seconds: Double(option("seconds", default: "2")) ?? 2,
            output: option("out", default: ".")).run()
    case "scale":
        try ScaleBenchmark(
            objectCounts: option("objects", default: "1,8,64").split(separator: ",").compactMap { Int($0) },
            seconds: Double(option("seconds", default: "2")) ?? 2,
            output: option("out", default: ".")).run()
    case "report":
        try Report(directory: option("dir", default: ".")).run()
    default:
        print("usage: uio-bench latency|platform|scale|report [options]")
        exit(2)
    }
} catch {
    print("uio-bench: \(error)")
    exit(1)
}
