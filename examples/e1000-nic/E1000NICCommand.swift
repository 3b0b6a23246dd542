// e1000-nic: a userspace driver for QEMU's e1000 NIC (82540EM) on swift-uio, bound to
// uio_pci_generic. Two commands, after ixy's:
//
//   e1000-nic pktgen SLOT [--seconds S] [--batch N] [--rate PPS]
//       sends 60-byte test packets (a sequence number and a check in each) as fast as it can
//   e1000-nic fwd IN OUT [--mode interrupt|poll] [--seconds S] [--packets N] [--batch N] [--no-check]
//       forwards every packet IN receives out of OUT, checking each test packet on the way
//
// Each prints, every second, the packet rates from the driver's counters beside the device's
// own, and at the end whether they agree. Runs as swift-service-lifecycle services: SIGINT or
// SIGTERM stops it cleanly.

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import Synchronization
import UIODriver
import UIOService

@main
struct E1000NICCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e1000-nic",
        abstract: "A driver for QEMU's e1000 NIC on swift-uio (uio_pci_generic, DMA to huge pages).",
        subcommands: [PacketGeneratorCommand.self, ForwardCommand.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Stop after this many seconds (default: at SIGINT or SIGTERM).")
    var seconds: Double?

    @Option(help: "The framework's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel = "info"

    func validate() throws {
        if let seconds, !(seconds > 0 && seconds <= 1e6) {
            throw ValidationError("--seconds must be more than 0 and at most 1000000, not \(seconds)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// Logging set up, and the example's own lines, flushed one by one.
    func start() -> (Logger, @Sendable (String) -> Void) {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        return (Logger(label: "e1000-nic"), { print("e1000-nic: \($0)"); fflush(nil) })
    }

    var deadline: ContinuousClock.Instant? {
        seconds.map { ContinuousClock.now + .nanoseconds(Int64($0 * 1e9)) }
    }
}

struct PacketGeneratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pktgen", abstract: "Send test packets out of one port.")

    @Argument(help: "The port's PCI slot, 0000:00:03.0.")
    var port: String

    @Option(help: "Packets queued per hand-over to the device.")
    var batch = 64

    @Option(help: "Send at most this many packets a second (default: as fast as the device takes them).")
    var rate: Int?

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1 to 256, not \(batch)") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive, not \(rate)") }
    }

    func run() async throws {
        let (logger, log) = options.start()
        let driver = try E1000Driver(slot: port, interrupts: false, logger: logger, log: log)
        let deadline = options.deadline
        let batch = batch, rate = rate
        let services: [any Service] = [
            StatisticsService(ports: [driver.port], extra: { "" }, everySecond: {}, log: log),
            DeviceService(device: driver.device) { _ in PacketGenerator.run(driver.port, batch: batch, rate: rate, until: deadline) },
        ]
        try await ServiceGroup(stoppingOnSignals: services, logger: logger).run()
        try Summary(log: log).transmitted(by: driver)
    }
}

struct ForwardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fwd", abstract: "Forward what one port receives out of another.")

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        /// The input's interrupt, NAPI-style: the DPC polls while there is work.
        case interrupt
        /// A thread polls the input's ring without pause, as ixy does.
        case poll
    }

    @Argument(help: "The receiving port's PCI slot.")
    var input: String

    @Argument(help: "The transmitting port's PCI slot.")
    var output: String

    @Option(help: "interrupt: the input's interrupt wakes a DPC that polls while there is work; poll: a thread polls without pause.")
    var mode = Mode.interrupt

    @Option(help: "Packets moved per hand-over to the devices.")
    var batch = 32

    @Flag(inversion: .prefixedNo, help: "Check each test packet's sequence number and check (else touch one byte, as ixy does).")
    var check = true

    @Option(help: "Stop after forwarding this many packets.")
    var packets: UInt64?

    @Option(help: "Count allocations on the forwarding threads after this many packets (needs the allocation counter preloaded).")
    var allocationWarmUp: UInt64 = 100_000

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1 to 256, not \(batch)") }
        guard input != output else { throw ValidationError("the input and the output must be two ports") }
    }

    func run() async throws {
        let (logger, log) = options.start()
        let outputDriver = try E1000Driver(slot: output, interrupts: false, logger: logger, log: log)
        let inputDriver = try E1000Driver(slot: input, interrupts: mode == .interrupt, logger: logger, log: log)
        let forwarder = Forwarder(from: inputDriver.port, to: outputDriver.port, batch: batch, checksPayload: check)
        let deadline = options.deadline
        let mode = mode
        let packetLimit = packets
        let allocations = AllocationWindow(probe: AllocationProbe(), warmUp: allocationWarmUp,
                                           threads: mode == .interrupt ? ["isr", "dpc"].map { "\(inputDriver.device.resources.threadPrefix)-\($0)" }
                                                                       : ["\(inputDriver.device.resources.threadPrefix)-work"])
        let interruptsSeen = Mutex<UInt64>(0)
        let extra: @Sendable () -> String = {
            guard let interrupt = inputDriver.interrupt else { return ", polling" }
            let now = interrupt.statistics.interrupts
            let counters = inputDriver.port.counters.counters
            return interruptsSeen.withLock { seen in
                defer { seen = now }
                return ", \(now - seen) interrupts, DPC runs so far: \(counters.value(.drainedPolls)) drained the ring, "
                    + "\(counters.value(.budgetPolls)) used the budget of \(NAPI.budget)"
            }
        }
        let work: @Sendable (Device) throws -> Void = { device in
            try waitUntilWorking(outputDriver.device, slot: outputDriver.port.slot)
            log("forwarding \(inputDriver.port.slot) → \(outputDriver.port.slot), \(mode == .interrupt ? "interrupt mode (NAPI)" : "polling")")
            if let interrupt = inputDriver.interrupt {
                try NAPI.start(forwarder, interrupt: interrupt)
                // The DPC forwards; this thread only watches for the end.
                let counters = inputDriver.port.counters.counters
                while !device.waitUntilStopped(timeout: .milliseconds(10)) {
                    if let deadline, ContinuousClock.now >= deadline { break }
                    if let packetLimit, counters.value(.receivedPackets) >= packetLimit { break }
                }
            } else {
                forwarder.poll(until: deadline, packets: packetLimit)
            }
            allocations.finish(packets: inputDriver.port.counters.counters.value(.receivedPackets))
        }
        let services: [any Service] = [
            StatisticsService(ports: [inputDriver.port, outputDriver.port], extra: extra,
                              everySecond: { allocations.observe(packets: inputDriver.port.counters.counters.value(.receivedPackets)) },
                              log: log),
            DeviceService(device: outputDriver.device),
            DeviceService(device: inputDriver.device, work: work),  // last: stops first
        ]
        try await ServiceGroup(stoppingOnSignals: services, logger: logger).run()

        let summary = Summary(log: log)
        try summary.forwarded(from: inputDriver, to: outputDriver, checked: check)
        allocations.report(log: log)
    }
}

/// Waits for the output port to be working: both devices start together, and forwarding must not
/// begin before the output's rings are ready.
func waitUntilWorking(_ device: Device, slot: String) throws {
    let deadline = ContinuousClock.now + .seconds(30)
        while device.state != .working {
            guard device.state != .stopping, device.state != .stopped, ContinuousClock.now < deadline else {
                throw NICError.outputNotStarted(slot)
            }
            usleep(10_000)
        }
}
