// uioctl: list, inspect, watch, bind and monitor UIO devices.

import ArgumentParser
import Logging
import ServiceLifecycle
import UIO
import UIOControl
import UIOService

#if canImport(Glibc)
import Glibc
#endif

@main
struct UIOCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uioctl",
        abstract: "List, inspect, watch, bind and monitor Linux UIO devices.",
        subcommands: [List.self, Info.self, Watch.self, Bind.self, Unbind.self, Monitor.self])
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A table of every UIO device; with --all, every PCI device, grouped by the driver it is on.")
    @Flag(help: "List every PCI device, on a UIO driver, another kernel driver or none, with its IOMMU group.") var all = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        if all {
            let devices = try PCIDevice.all()
            print(json ? try DeviceListing.json(devices) : DeviceListing.pciStatus(devices))
            return
        }
        let devices = try UIODevice.all()
        if json {
            print(try DeviceListing.json(devices))
        } else if devices.isEmpty {
            print("no UIO devices (load uio and a UIO driver, and bind a device: uioctl bind SLOT-OR-NAME)")
        } else {
            print(DeviceListing.table(devices, irq: KernelIRQ.read(for:)))
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Everything known about one device.")
    @Argument(help: "uioN, a name, a PCI slot, vendor:device, or a /dev or /sys path.") var device: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let found = try UIODevice.first(DeviceSelector(device))
        let irq = KernelIRQ.read(for: found)
        if json {
            print(try DeviceListing.json(DeviceInfo(device: found, irq: irq)))
        } else {
            print(DeviceListing.report(found, irq: irq))
        }
    }

    struct DeviceInfo: Encodable {
        let device: UIODevice
        let irq: KernelIRQ?
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Live interrupt count and rate, without claiming the device, until Ctrl-C.")
    @Argument(help: "uioN, a name, a PCI slot or vendor:device.") var device: String
    @Option(help: "Seconds between lines.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Flag(help: "Print JSON lines.") var json = false

    func validate() throws {
        try validateSeconds(interval, option: "--interval")
        try seconds.map { try validateSeconds($0, option: "--seconds") }
    }

    func run() async throws {
        let watch = InterruptWatch(device: try UIODevice.first(DeviceSelector(device)))
        if !json { print("watching uio\(watch.device.number) (\(watch.device.name)); Ctrl-C stops") }
        let (json, interval, duration) = (json, Duration.seconds(interval), seconds.map { Duration.seconds($0) })
        try await untilStopSignal(name: "uioctl-watch", interrupt: { watch.cancel() }) {
            try watch.run(interval: interval, duration: duration) { sample in
                if json {
                    print((try? DeviceListing.json(sample).split(separator: "\n").joined(separator: " ")) ?? "")
                } else {
                    print("\(String(format2(sample.elapsed)))s  count \(sample.count)  +\(sample.interrupts)  \(Int(sample.rate.rounded())) /s")
                }
            }
        }
    }
}

struct Bind: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bind a PCI or platform device to a UIO driver, or a PCI device to vfio-pci (driver_override, drivers_probe).")
    @Argument(help: "A PCI slot (0000:00:04.0) or a platform device's name (9010000.pl031).") var device: String
    @Option(help: "The driver: a UIO driver (default: uio_pci_generic for a PCI slot, uio_pdrv_genirq for a platform device) or vfio-pci.") var driver: String?
    @Flag(help: "Take the device even from a kernel driver that is using it (an interface up, a file system mounted).") var force = false

    func run() throws {
        if driver == PCIBinding.vfioDriver {
            let pci = try PCIBinding.bindToVFIO(slot: device, force: force)
            print("\(device) bound to vfio-pci: IOMMU group \(pci.iommuGroup.map(String.init) ?? "?") (/dev/vfio/\(pci.iommuGroup.map(String.init) ?? "?"))")
            return
        }
        let uio = if case .slot = DeviceSelector(device) {
            try PCIBinding.bind(slot: device, to: driver ?? KernelDriver.uioPCIGeneric.name, force: force)
        } else {
            try PlatformBinding.bind(device: device, to: driver ?? KernelDriver.uioPdrvGenirq.name, force: force)
        }
        print("\(device) bound to \(uio.parent?.driver ?? "?"): uio\(uio.number) (\(uio.devicePath))")
    }
}

struct Unbind: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unbind a PCI or platform device from its driver and clear its driver_override.")
    @Argument(help: "A PCI slot (0000:00:04.0) or a platform device's name (9010000.pl031).") var device: String
    @Flag(help: "Unbind it even from a kernel driver that is using it (an interface up, a file system mounted).") var force = false

    func run() throws {
        if case .slot = DeviceSelector(device) {
            try PCIBinding.unbind(slot: device, force: force)
        } else {
            try PlatformBinding.unbind(device: device, force: force)
        }
        print("\(device) unbound")
    }
}

struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "UIO devices coming and going, as they happen, until Ctrl-C.")
    @Flag(help: "Print JSON lines.") var json = false
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Read uevents from udev (after its rules ran), the kernel, or whichever is there.")
    var source: SourceOption = .automatic

    enum SourceOption: String, ExpressibleByArgument { case udev, kernel, automatic }

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1, not \(count)") }
        try seconds.map { try validateSeconds($0, option: "--seconds") }
    }

    func run() async throws {
        let monitor = try HotplugMonitor(source: source == .udev ? .udev : source == .kernel ? .kernel : .automatic)
        if !json { print("monitoring UIO devices (\(monitor.source == .udev ? "udev" : "kernel") events); Ctrl-C stops") }
        fflush(nil)
        let (json, count, seconds) = (json, count, seconds)
        try await untilStopSignal(name: "uioctl-monitor", interrupt: { monitor.cancel() }) {
            try Monitor.follow(monitor, json: json, count: count, seconds: seconds)
        }
    }

    static func follow(_ monitor: HotplugMonitor, json: Bool, count: Int?, seconds: Double?) throws {
        var seen = 0
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        while count.map({ seen < $0 }) ?? true {
            let left = deadline.map { ContinuousClock.now.duration(to: $0) }
            if let left, left <= .zero { break }
            guard let event = try monitor.next(timeout: left) else {
                if left == nil { break }  // cancelled by a signal
                continue
            }
            seen += 1
            if json {
                print(try DeviceListing.json(MonitorLine(event)).split(separator: "\n").joined(separator: " "))
            } else {
                let what = event.device.map { " \($0.name) at \(DeviceListing.parentDescription($0.parent))" } ?? ""
                print("\(event.action) uio\(event.number.map(String.init) ?? "?") \(event.devicePath ?? "")\(what)")
            }
            fflush(nil)  // a pipe reader sees each event as it happens
        }
        monitor.close()
    }

    struct MonitorLine: Encodable {
        let action: String
        let number: Int?
        let sysPath: String
        let devicePath: String?
        let device: UIODevice?
        init(_ event: HotplugEvent) {
            action = event.action.description
            number = event.number
            sysPath = event.sysPath
            devicePath = event.devicePath
            device = event.device
        }
    }
}

/// Runs a blocking command's `body` until it ends or SIGINT or SIGTERM calls `interrupt`, which
/// makes it end cleanly (a swift-service-lifecycle group around a ``BlockingService``).
func untilStopSignal(name: String, interrupt: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () throws -> Void) async throws {
    let quiet = Logger(label: "uioctl") { _ in SwiftLogNoOpLogHandler() }
    try await ServiceGroup(stoppingOnSignals: [BlockingService(name: name, body: body, interrupt: interrupt)], logger: quiet).run()
}

/// The longest `--interval` or `--seconds`: a year. Longer is forever for a command run by hand,
/// and `Duration.seconds(_:)` traps on the largest doubles.
let longestCommandSeconds: Double = 365 * 86_400

/// A number of seconds from the command line: finite, at least a millisecond, at most a year.
func validateSeconds(_ value: Double, option: String) throws {
    guard value.isFinite, value >= 0.001, value <= longestCommandSeconds else {
        throw ValidationError("\(option) must be a number of seconds from 0.001 to \(Int(longestCommandSeconds)) (a year), not \(value)")
    }
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}
