import Foundation
import Logging
import Metrics
import MetricsTestKit
import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting
import UIOPlatform

/// A log handler that keeps what it is given, for tests.
struct CapturingLogHandler: LogHandler {
    final class Entries: Sendable {
        let all = Locked<[(Logger.Level, String, Logger.Metadata)]>([])
        func messages(at level: Logger.Level) -> [String] { all.withLock { $0.filter { $0.0 == level }.map(\.1) } }
    }
    let entries: Entries
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        entries.all.withLock { $0.append((level, message.description, metadata.merging(explicit ?? [:]) { $1 })) }
    }
}

/// One metrics backend for the whole test process: swift-metrics is bootstrapped once.
let testMetrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()

/// The framework's events in the driver's logger, and its figures in swift-metrics.
@Suite("Logs and metrics")
struct ObservabilityTests {
    @Test("a storm and a surprise removal are logged as errors, with the device as metadata")
    func logs() throws {
        let entries = CapturingLogHandler.Entries()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(entries: entries) }
        let simulated = try SimulatedDevice(name: "logged", kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated, logger: logger)
        var config = InterruptConfig<Int>(isr: { _, _ in false })
        config.stormGuard = StormGuard(window: 20, unrecognizedLimit: 18, quietReset: .seconds(60))
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for _ in 0..<20 {
            let before = interrupt.statistics.wakeUps
            simulated.raise()
            try #require(waitUntil { interrupt.statistics.wakeUps > before })
        }
        #expect(waitUntil { entries.messages(at: .error).contains { $0.contains("interrupt storm on \(simulated.device.devicePath)") } })
        simulated.remove()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        #expect(waitUntil { entries.messages(at: .error).contains { $0.contains("surprise removal") } })
        #expect(entries.messages(at: .debug).contains("stopped"))
        let tagged = entries.all.withLock { $0.allSatisfy { $0.2["device"] == "\(simulated.device.devicePath)" } }
        #expect(tagged, "every entry names the device")
    }

    @Test("exportsMetrics: ISR durations, DPC latencies and counts reach the metrics backend")
    func metrics() throws {
        let metrics = testMetrics
        let simulated = try SimulatedDevice(name: "metered", number: 7, kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        var config = InterruptConfig<Int>(isr: { interrupt, _ in interrupt.queueDPC() }, dpc: { _, _ in })
        config.exportsMetrics = true
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        for raised in 1...3 {
            simulated.raise()
            try #require(waitUntil { interrupt.statistics.dpcRuns == raised && interrupt.statistics.wakeUps == UInt64(raised) })
        }
        let dimensions = [("source", simulated.device.devicePath), ("vector", "0")]
        #expect(try metrics.expectTimer("uio_interrupt_isr_duration", dimensions).values.count == 3)
        #expect(try metrics.expectTimer("uio_interrupt_dpc_latency", dimensions).values.count == 3)
        #expect(try metrics.expectCounter("uio_interrupt_wake_ups", dimensions).totalValue == 3)
    }
}
