// Once a second: each port's rates from the driver's counters beside the device's own, and the
// process's CPU use.

#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// Prints the rates each second until the group shuts down.
struct StatisticsService: Service {
    let ports: [E1000Port]
    let extra: @Sendable () -> String
    let everySecond: @Sendable () -> Void
    let log: @Sendable (String) -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var previous = ports.map(Sample.init)
                var previousCPU = processCPUSeconds()
                var previousTime = ContinuousClock.now
                while true {
                    try await Task.sleep(for: .seconds(1))
                    let now = ContinuousClock.now
                    let seconds = seconds(now - previousTime)
                    let cpu = processCPUSeconds()
                    let current = ports.map(Sample.init)
                    for (before, after) in zip(previous, current) { log(after.line(since: before, seconds: seconds)) }
                    log("cpu \(Int((cpu - previousCPU) / seconds * 100))% of one CPU" + extra())
                    everySecond()
                    previous = current
                    previousCPU = cpu
                    previousTime = now
                }
            }
        } catch is CancellationError {}
    }
}

/// One port's counts at one moment.
struct Sample {
    let slot: String
    let driver: [UInt64]
    let device: DeviceCounters

    init(_ port: E1000Port) {
        port.accumulateDeviceCounters()
        slot = port.slot
        driver = Counter.allCases.map { port.counters.counters.value($0) }
        device = port.deviceTotals.withLock { $0 }
    }

    func line(since before: Sample, seconds: Double) -> String {
        func mpps(_ now: UInt64, _ then: UInt64) -> String { format(Double(now &- then) / seconds / 1e6, digits: 4) }
        func mbits(_ now: UInt64, _ then: UInt64) -> String { "\(Int(Double(now &- then) * 8 / seconds / 1e6))" }
        let received = Counter.receivedPackets.rawValue, transmitted = Counter.transmittedPackets.rawValue
        return "[\(slot)] RX \(mpps(driver[received], before.driver[received])) Mpps "
            + "\(mbits(driver[Counter.receivedBytes.rawValue], before.driver[Counter.receivedBytes.rawValue])) Mbit/s "
            + "(device \(mpps(device.receivedPackets, before.device.receivedPackets))) "
            + "TX \(mpps(driver[transmitted], before.driver[transmitted])) Mpps "
            + "\(mbits(driver[Counter.transmittedBytes.rawValue], before.driver[Counter.transmittedBytes.rawValue])) Mbit/s "
            + "(device \(mpps(device.transmittedPackets, before.device.transmittedPackets)))"
    }
}

/// The CPU time this process has used, user and system, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    guard getrusage(Int32(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func format(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    var fraction = String(scaled % Int(scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return digits == 0 ? "\(whole)" : "\(whole).\(fraction)"
}
