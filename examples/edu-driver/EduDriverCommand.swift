// edu-driver: finds QEMU's edu device, drives it through the interrupt object, and shows it.
//
//   edu-driver [--backend uio|vfio] [--device uio0|NAME|SLOT|VENDOR:DEVICE] [--bind SLOT]
//              [--factorial N]... [--interrupts N] [--dma-copies N] [--dma-bytes N] [--serve]
//              [--metrics-file PATH] [--log-level LEVEL]
//
// The device runs as a swift-service-lifecycle service (UIOService's DeviceService): SIGINT or
// SIGTERM stops it cleanly at any point, a second one exits at once; under systemd it reports
// ready after D0 entry (deploy/edu-driver@.service).

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SystemPackage
import UIO
import UIODriver
import UIOService

@main
struct EduDriverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edu-driver",
        abstract: "A driver for QEMU's edu device, on swift-uio's interrupt object, through uio_pci_generic or vfio-pci.")

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case uio, vfio
    }

    @Option(help: "uio: the device on uio_pci_generic (INTx, DMA to huge pages); vfio: on vfio-pci (MSI, DMA through the IOMMU).")
    var backend = Backend.uio

    @Option(help: "Which device: uioN, a name, a PCI slot or vendor:device (vfio: a slot or vendor:device).")
    var device = "1234:11e8"

    @Option(help: "Bind the PCI device in this slot to the backend's kernel driver first (needs root).")
    var bind: String?

    @Option(name: .customLong("factorial"), help: "Compute n! on the device, interrupt on completion (repeatable).")
    var factorials: [UInt32] = [5, 10, 12]

    @Option(help: "Raise this many test interrupts, one at a time.")
    var interrupts = 1000

    @Option(help: "Copy a buffer out to the device and back by DMA this many times (uio needs huge pages: vm.nr_hugepages).")
    var dmaCopies = 4

    @Option(help: "The bytes in each DMA copy (1 to 4095, edu's buffer).")
    var dmaBytes = 4000

    @Flag(help: "Keep running after the demonstration, until SIGINT or SIGTERM or the device's removal.")
    var serve = false

    @Option(help: "Write the interrupt's metrics in Prometheus's text format to this file, every 10 s and at stop.")
    var metricsFile: String?

    @Option(help: "The framework's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel = "info"

    func validate() throws {
        guard interrupts >= 0 else { throw ValidationError("--interrupts must be 0 or more, not \(interrupts)") }
        guard dmaCopies >= 0 else { throw ValidationError("--dma-copies must be 0 or more, not \(dmaCopies)") }
        guard (1...4095).contains(dmaBytes) else { throw ValidationError("--dma-bytes must be 1 to 4095 (edu's buffer), not \(dmaBytes)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(logLevel)")
        }
    }

    func run() async throws {
        // Flushed line by line into a pipe too: a service's journal shows each as it happens.
        let log: @Sendable (String) -> Void = { print("edu-driver: \($0)"); fflush(nil) }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "edu-driver")
        let registry = PrometheusCollectorRegistry()
        if metricsFile != nil { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }

        // Find the device through libudev (binding it first if asked).
        let resources: any HardwareResources
        let kernelCount: () -> String
        switch backend {
        case .uio:
            let uio: UIODevice
            if let slot = bind {
                uio = try PCIBinding.bind(slot: slot, to: KernelDriver.uioPCIGeneric.name)
                log("bound \(slot) to uio_pci_generic")
            } else {
                uio = try UIODevice.first(DeviceSelector(device))
            }
            let parent = uio.parent
            log("found uio\(uio.number) \"\(uio.name)\" at \(parent?.sysName ?? "?")"
                + (parent?.pci.map { " (\(hex($0.vendor)):\(hex($0.device)))" } ?? "") + ", irq \(parent?.irq.map(String.init) ?? "none")")
            resources = try uio.open()
            kernelCount = { (try? uio.currentEventCount()).map { "\($0)" } ?? "?" }
        case .vfio:
            let pci: PCIDevice
            if let slot = bind {
                pci = try PCIBinding.bindToVFIO(slot: slot)
                log("bound \(slot) to vfio-pci")
            } else {
                let selector = DeviceSelector(device)
                guard let found = try PCIDevice.find(selector).first(where: { $0.driver == PCIBinding.vfioDriver }) else {
                    throw ValidationError("no \(selector) on vfio-pci: bind one first (uioctl bind --driver vfio-pci SLOT, or --bind SLOT)")
                }
                pci = found
            }
            let handle = try pci.openVFIO()
            log("found \(pci.slot) (\(hex(pci.identity.vendor)):\(hex(pci.identity.device))) on vfio-pci, IOMMU group "
                + "\(pci.iommuGroup.map(String.init) ?? "?"), interrupts by \(handle.interruptMode.map { "\($0)" } ?? "none")")
            resources = handle
            kernelCount = { "in /proc/interrupts" }
        }

        let driver = try EduDriver(resources: resources, copiesByDMA: dmaCopies > 0, exportsMetrics: metricsFile != nil,
                                   logger: logger, log: log)
        let demonstration = Demonstration(factorials: factorials, interrupts: interrupts, dmaCopies: dmaCopies,
                                          dmaBytes: dmaBytes, serve: serve, log: log)
        var services: [any Service] = [DeviceService(device: driver.device) { _ in try demonstration.run(driver) }]
        if let metricsFile {
            services.append(MetricsFileService(path: FilePath(metricsFile), logger: logger) { registry.emitToBuffer() })
        }
        try await ServiceGroup(stoppingOnSignals: services, logger: logger).run()

        let statistics = driver.interrupt.statistics
        let kernel = kernelCount()
        log("stopped: \(statistics.interrupts) interrupts (kernel count \(kernel)), \(statistics.wakeUps) ISR calls, "
            + "\(statistics.coalesced) coalesced, \(statistics.recognized) recognized, \(statistics.unrecognized) not ours, "
            + "\(statistics.dpcRuns) DPC runs" + (statistics.held > 0 ? ", \(statistics.held) held while disabled" : ""))
        // The interrupt's own histograms; guest microseconds are the emulator's.
        for line in driver.interrupt.timings.description.split(separator: "\n") { log("  \(line)") }
    }
}

/// What the example shows once the device works: factorials, test interrupts, DMA copies, and
/// with `serve` a wait for the stop. Runs on the service's work thread; a stop (a signal, the
/// device's removal) fails the request under way, which ends it.
struct Demonstration: Sendable {
    let factorials: [UInt32]
    let interrupts: Int
    let dmaCopies: Int
    let dmaBytes: Int
    let serve: Bool
    let log: @Sendable (String) -> Void

    func run(_ driver: EduDriver) throws {
        for n in factorials {
            let (value, latency) = try driver.factorial(n)
            log("\(n)! = \(value) (interrupt on completion; the DPC completed the request after \(microseconds(latency)) µs)")
        }
        if interrupts > 0 {
            let elapsed = try driver.raiseTestInterrupts(interrupts)
            log("raised \(interrupts) test interrupts one at a time: \(driver.testInterruptsHandled) handled by the DPC, "
                + "\(microseconds(elapsed / interrupts)) µs per round trip")
        }
        if dmaCopies > 0 {
            var generator = SystemRandomNumberGenerator()
            var total = Duration.zero
            var worst = Duration.zero
            var redone = 0
            for copy in 1...dmaCopies {
                let data = (0..<dmaBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let result = try driver.copyThroughDevice(data)
                guard result.bytes == data else { throw EduError.corrupt(copy) }
                total += result.latency
                worst = max(worst, result.latency)
                redone += result.redone
            }
            // Each copy's own time, from the request to its completion by the DPC.
            let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
            log("copied \(dmaBytes) bytes out to the device and back by DMA \(dmaCopies) times, every byte checked: "
                + "\(Int(Double(2 * dmaBytes * dmaCopies) / 1024 / seconds)) KiB/s, \(microseconds(total / dmaCopies) / 1000) ms per copy "
                + "(worst \(microseconds(worst) / 1000) ms; edu finishes each transfer ~100 ms after it starts)"
                + (redone > 0 ? ", \(redone) transfers made again after Bus Master was lost" : ""))
        }
        if serve {
            log("serving until SIGINT or SIGTERM or the device's removal")
            driver.device.waitUntilStopped()
        }
    }
}

func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 4 - digits.count) + digits
}

func microseconds(_ duration: Duration) -> Int {
    Int(duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
}
