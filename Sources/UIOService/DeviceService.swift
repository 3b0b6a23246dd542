#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import Synchronization
import UIODriver
import UIOPlatform
import UnixSignals

/// A driver's `Device` as a swift-service-lifecycle `Service`: started when the service group
/// runs it, ready (`READY=1` to systemd) once in D0, stopped in WDF's order on graceful shutdown.
///
/// ```swift
/// let service = DeviceService(device: driver.device) { device in try driver.serveRequests() }
/// try await ServiceGroup(stoppingOnSignals: [service], logger: logger).run()
/// ```
///
/// - `work`, if given, is the driver's own blocking code, on a thread of its own once the device
///   works. When it returns the device is stopped and the service ends; an error it throws while
///   the device still works is the service's failure, one it throws because the device stopped
///   under it (a signal, a removal) is not. Without `work` the device serves until it is stopped
///   or removed.
/// - A surprise removal (unplugged, unbound) ends the service without an error, after the removal
///   sequence; any other failure of the device (an I/O error of its interrupt) fails it.
/// - Graceful shutdown or cancellation of the group stops the device.
/// - A second `SIGTERM` or `SIGINT` while the stop runs (a callback that never returns, say)
///   exits the process at once, Bus Master turned off first (`Device.prepareForImmediateExit()`),
///   with status 128 + the signal. The service group must shut down gracefully on the same
///   signals, as `ServiceGroup.init(stoppingOnSignals:logger:)` sets up.
public struct DeviceService: Service, CustomStringConvertible {
    /// The device the service drives.
    public let device: Device
    private let notifier: ServiceManagerNotifier
    private let work: (@Sendable (Device) throws -> Void)?
    private let signals: SignalSource
    private let exitNow: @Sendable (Int32) -> Void

    /// The signals that shut a driver down gracefully; the second one exits at once.
    public static let stopSignals: [UnixSignal] = [.sigterm, .sigint]

    package enum SignalSource: Sendable {
        case process
        case stream(AsyncStream<UnixSignal>)
    }

    /// A service for `device`, telling `notifier` (systemd's, by default) when it is ready.
    public init(device: Device, notifier: ServiceManagerNotifier = .fromEnvironment,
                work: (@Sendable (Device) throws -> Void)? = nil) {
        self.init(device: device, notifier: notifier, work: work, signals: .process, exit: { status in
            fflush(nil)
            _exit(status)
        })
    }

    /// For tests: signals from `signals` rather than the process's, and `exit` in place of `_exit`.
    package init(device: Device, notifier: ServiceManagerNotifier, work: (@Sendable (Device) throws -> Void)?,
                 signals: SignalSource, exit: @escaping @Sendable (Int32) -> Void) {
        self.device = device
        self.notifier = notifier
        self.work = work
        self.signals = signals
        self.exitNow = exit
    }

    public var description: String { "DeviceService(\(device.resources.name))" }

    public func run() async throws {
        let device = self.device
        let logger = device.logger
        let stopper = Stopper(device: device, notifier: notifier)
        // Trapping before the start: a signal from now on reaches the watcher as well as the group.
        let stream: AsyncStream<UnixSignal>
        switch signals {
        case .process:
            let process = await UnixSignalsSequence(trapping: Self.stopSignals)
            stream = AsyncStream { continuation in
                let forwarding = Task {
                    for await signal in process { continuation.yield(signal) }
                    continuation.finish()
                }
                continuation.onTermination = { _ in forwarding.cancel() }
            }
        case .stream(let given):
            stream = given
        }
        let watcher = Task { await exitOnSecondSignal(stream) }
        defer { watcher.cancel() }

        do {
            try await onOwnThread(named: "\(device.resources.threadPrefix)-start") { try device.start() }
        } catch {
            try? notifier.status("start failed: \(error)")
            throw error
        }
        logger.info("ready: the device is in D0 and its interrupts are enabled")
        do { try notifier.ready(status: "driving \(device.resources.name)") } catch {
            logger.warning("\(error)")
        }

        // Graceful shutdown and cancellation (the group's, when another service failed) both stop.
        let workFailure: (any Error)? = await withTaskCancellationOrGracefulShutdownHandler {
            var failure: (any Error)?
            if let work {
                do {
                    try await onOwnThread(named: "\(device.resources.threadPrefix)-work") { try work(device) }
                } catch {
                    // A stop already under way made it fail: not the driver's failure.
                    if !stopper.hasBegun { failure = error }
                }
                stopper.stop(because: failure.map { "the driver's work failed: \($0)" } ?? "the driver's work is done")
            }
            await device.stopped()
            return failure
        } onCancelOrGracefulShutdown: {
            stopper.stop(because: "graceful shutdown")
        }

        if let reason = device.removalReason {
            try? notifier.status("device gone: \(reason)")
            // Unplugged or unbound: the service ends, successfully (Restart=on-failure would try a
            // device that is not there). Any other failure of the device is the service's.
            guard reason.code == .deviceRemoved else {
                logger.error("the device failed, so the service fails: \(reason)")
                throw reason
            }
            logger.notice("the device went away, so the service ends: \(reason)")
            return
        }
        if let workFailure { throw workFailure }
    }

    private func exitOnSecondSignal(_ signals: AsyncStream<UnixSignal>) async {
        var received = 0
        for await signal in signals {
            received += 1
            guard received >= 2 else { continue }
            device.logger.critical("a second \(signal) while stopping: exiting at once, the stop unfinished",
                                   metadata: ["busMasterOff": "\(device.prepareForImmediateExit())"])
            exitNow(128 + signal.rawValue)
            return
        }
    }
}

/// Stops the device once, on a thread of its own: `Device.stop()` blocks until every callback
/// has returned, which no cooperative thread may wait for.
private final class Stopper: Sendable {
    private let device: Device
    private let notifier: ServiceManagerNotifier
    private let begun = Atomic<Bool>(false)

    /// Whether a stop has begun (by a signal, the group, or the work's end).
    var hasBegun: Bool { begun.load(ordering: .acquiring) }

    init(device: Device, notifier: ServiceManagerNotifier) {
        self.device = device
        self.notifier = notifier
    }

    func stop(because reason: String) {
        guard !begun.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if device.state != .stopped {
            device.logger.info("stopping: \(reason)")
            try? notifier.stopping(status: "stopping: \(reason)")
        }
        let device = self.device
        do {
            try OSThread.detached(name: "\(device.resources.threadPrefix)-stop") { device.stop() }
        } catch {
            // No thread to spare: a cooperative thread it is, rather than no stop at all.
            Task.detached { device.stop() }
        }
    }
}
