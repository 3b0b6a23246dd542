// uio-bench: the measurements ordo-one/benchmark cannot take, and the report.
//
//   uio-bench latency --out DIR [--smoke] [--rounds R] [--raises K]  (in the guest, on an edu device)
//   uio-bench realtime --out DIR [--smoke] [--rounds R] [--raises K]  (in the guest, on an edu device; a PREEMPT_RT kernel)
//   uio-bench dma --out DIR [--smoke] [--rounds R] [--copies K]  (in the guest, on an edu device, --hugepages)
//   uio-bench vfio --out DIR [--smoke] [--rounds R] [--raises K]  (in the guest, an edu on vfio-pci and one on UIO)
//   uio-bench allocations --out DIR [--interrupts N]           (in the guest, LD_PRELOAD=allocation_counter.so)
//   uio-bench platform --out DIR [--rounds R] [--seconds S]    (in the aarch64 guest, on the PL031)
//   uio-bench scale --out DIR [--objects 1,8,64] [--seconds S]  (on the host, simulated devices)
//   uio-bench native --out DIR [--smoke] [--rounds R] [--raises K]  (on the host, eventfd interrupts)
//   uio-bench locks --out DIR [--smoke] [--rounds R]              (on the host)
//   uio-bench hog --out DIR [--smoke] [--rounds R]                (on the host, eventfd interrupts)
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
        let smoke = arguments.contains("--smoke")
        try LatencyBenchmark(
            rounds: Int(option("rounds", default: smoke ? "4" : "31")) ?? 31,
            raisesPerRound: Int(option("raises", default: smoke ? "40" : "100")) ?? 100,
            settleNanoseconds: 200_000...400_000,
            output: option("out", default: ".")).run()
    case "realtime":
        let smoke = arguments.contains("--smoke")
        try RealTimeBenchmark(
            rounds: Int(option("rounds", default: smoke ? "6" : "21")) ?? 21,
            raisesPerRound: Int(option("raises", default: smoke ? "40" : "200")) ?? 200,
            settleNanoseconds: 200_000...400_000,
            output: option("out", default: ".")).run()
    case "dma":
        // Each copy takes ~200 ms of edu's timer: the counts stay small.
        let smoke = arguments.contains("--smoke") || getenv("UIO_BENCH_SMOKE").map { String(cString: $0) } == "1"
        try DMABenchmark(
            rounds: Int(option("rounds", default: smoke ? "2" : "6")) ?? 6,
            copiesPerRound: Int(option("copies", default: smoke ? "2" : "5")) ?? 5,
            bytesPerCopy: 4000,
            output: option("out", default: ".")).run()
    case "vfio":
        let smoke = arguments.contains("--smoke")
        // Smoke: ten paired rounds, for a median that means something, in well under a minute with the boot.
        try VFIOBenchmark(
            rounds: Int(option("rounds", default: smoke ? "11" : "31")) ?? 31,
            raisesPerRound: Int(option("raises", default: smoke ? "50" : "100")) ?? 100,
            settleNanoseconds: 200_000...400_000,
            output: option("out", default: ".")).run()
    case "allocations":
        try AllocationBenchmark(
            warmUp: 200,
            interrupts: Int(option("interrupts", default: "10000")) ?? 10_000,
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
    case "native":
        let smoke = arguments.contains("--smoke")
        try NativeBenchmark(
            rounds: Int(option("rounds", default: smoke ? "11" : "31")) ?? 31,
            raisesPerRound: Int(option("raises", default: smoke ? "100" : "300")) ?? 300,
            settleNanoseconds: smoke ? 20_000...60_000 : 20_000...200_000,
            output: option("out", default: ".")).run()
    case "locks":
        let smoke = arguments.contains("--smoke")
        try LockBenchmark(
            rounds: Int(option("rounds", default: smoke ? "6" : "31")) ?? 31,
            uncontendedIterations: smoke ? 20_000 : 200_000,
            contendedIterations: smoke ? 2_000 : 20_000,
            output: option("out", default: ".")).run()
    case "hog":
        let smoke = arguments.contains("--smoke")
        try HogBenchmark(
            rounds: Int(option("rounds", default: smoke ? "2" : "5")) ?? 5,
            raisesPerRound: smoke ? 400 : 2_000,
            paceNanoseconds: 500_000,
            output: option("out", default: ".")).run()
    case "report":
        try Report(directory: option("dir", default: ".")).run()
    default:
        print("usage: uio-bench latency|realtime|dma|vfio|allocations|platform|scale|native|locks|hog|report [options]")
        exit(2)
    }
} catch {
    print("uio-bench: \(error)")
    exit(1)
}
