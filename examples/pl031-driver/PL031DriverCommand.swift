// pl031-driver: finds the PL031 that the device tree hands to uio_pdrv_genirq, rings its alarm
// through the interrupt object a number of times, and shows it.
//
//   pl031-driver [--device pl031-uio|uioN|/dev/uioN] [--alarms N] [--period SECONDS]
//
// The device runs as a swift-service-lifecycle service (UIOService's DeviceService): SIGINT or
// SIGTERM stops it cleanly at any point, a second one exits at once.

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import UIO
import UIODriver
import ServiceLifecycle
import UIOService

@main
struct PL031DriverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pl031-driver",
        abstract: "A uio_pdrv_genirq driver for ARM's PL031 RTC alarm, on swift-uio's interrupt object.")

    @Option(help: "Which UIO device: its linux,uio-name, uioN or /dev/uioN.")
    var device = "pl031-uio"

    @Option(help: "Ring the alarm this many times.")
    var alarms = 5

    @Option(help: "Seconds between alarms (the clock counts whole seconds).")
    var period: UInt32 = 1

    func validate() throws {
        guard (1...100_000).contains(alarms) else { throw ValidationError("--alarms must be from 1 to 100000, not \(alarms)") }
        guard (1...86_400).contains(period) else { throw ValidationError("--period must be from 1 to 86400 seconds (a day), not \(period)") }
    }

    func run() async throws {
        // Flushed line by line into a pipe too: a service's journal shows each as it happens.
        let log: @Sendable (String) -> Void = { print("pl031-driver: \($0)"); fflush(nil) }
        let uio = try UIODevice.first(DeviceSelector(device))
        let line = KernelIRQ.read(for: uio)
        log("found uio\(uio.number) \"\(uio.name)\" (\(uio.version)) at \(uio.parent?.sysName ?? "?"), driver \(uio.parent?.driver ?? "none"), "
            + "irq \(line.map { "\($0.number) (\($0.controller))" } ?? "unknown")")

        let driver = try PL031Driver(uio: uio, alarms: alarms, period: period, log: log)
        let started = ContinuousClock.now
        let deadline = started + .seconds(Int(period) * alarms + 10)
        // Waits for the alarms; a signal or the device's removal stops the device, which ends it.
        let service = DeviceService(device: driver.device) { device in
            while device.state == .working, !driver.waitForAlarms(timeout: .seconds(1)), .now < deadline {}
        }
        try await ServiceGroup(stoppingOnSignals: [service], logger: Logger(label: "pl031-driver")).run()

        let statistics = driver.interrupt.statistics
        let kernel = (try? uio.currentEventCount()).map(String.init) ?? "?"
        let elapsed = started.duration(to: .now).components
        let tenths = elapsed.seconds * 10 + elapsed.attoseconds / 100_000_000_000_000_000
        log("stopped: \(driver.alarmsHandled) alarms in \(tenths / 10).\(tenths % 10) s, \(statistics.interrupts) interrupts (kernel count \(kernel)), "
            + "\(statistics.recognized) recognized, \(statistics.dpcRuns) DPC runs, \(statistics.rearmFailures) re-arm failures")
        for line in driver.interrupt.timings.description.split(separator: "\n") { log("  \(line)") }
        guard driver.alarmsHandled == alarms else { throw ExitCode.failure }
    }
}
