import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import SystemPackage
import Testing
import TestSupport
import UIO
import UIODriver
import UIOService
import UIOTesting
import UnixSignals
import UIOPlatform

/// A datagram socket standing in for systemd's notification socket.
final class NotificationListener: Sendable {
    let path: String
    private let descriptor: Int32

    init(abstract: Bool = false) throws {
        let name = "swift-uio-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        path = abstract ? "@\(name)" : NSTemporaryDirectory() + name
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard descriptor >= 0, bound == 0 else { throw Errno(rawValue: errno) }
    }

    deinit {
        close(descriptor)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// The next datagram's lines, or `nil` after two minutes without one. Polls, suspending between
    /// tries: a test blocking a cooperative thread could starve the service it waits for.
    func next() async -> [String]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var count = -1
        _ = await waitUntilAsync {
            count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            return count >= 0
        }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

@Suite("A device as a service: swift-service-lifecycle, systemd's notifications, metrics in a file")
struct DeviceServiceTests {
    func recordedDevice(_ simulated: SimulatedDevice, _ log: Recorder, d0Exit gate: Gate? = nil) throws -> Device {
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(
            prepareHardware: { _, _ in log.record("prepareHardware") },
            d0Entry: { _ in log.record("d0Entry") },
            d0Exit: { _ in gate?.pass(); log.record("d0Exit") },
            releaseHardware: { _ in log.record("releaseHardware") }))
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.enable = { _, _ in log.record("enable") }
        config.disable = { _, _ in log.record("disable") }
        _ = try Interrupt(parent: device, config: config, context: 0)
        return device
    }

    static let started = ["prepareHardware", "d0Entry", "enable"]
    static let stopped = started + ["disable", "d0Exit", "releaseHardware"]

    @Test("READY=1 after D0 entry; graceful shutdown sends STOPPING=1 and stops in WDF's order")
    func readyAndGracefulShutdown() async throws {
        let log = Recorder()
        let listener = try NotificationListener()
        let device = try recordedDevice(try SimulatedDevice(), log)
        let service = DeviceService(device: device, notifier: ServiceManagerNotifier(socketPath: listener.path))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                let ready = await listener.next()
                #expect(ready?.first == "READY=1")
                #expect(ready?.contains("STATUS=driving \(device.resources.name)") == true)
                #expect(log.all == Self.started, "ready only once the interrupts are enabled")
                #expect(device.state == .working)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                #expect(await listener.next()?.first == "STOPPING=1")
            }
        }
        #expect(device.state == .stopped)
        #expect(log.all == Self.stopped)
    }

    @Test("the abstract-namespace socket systemd uses is reached too")
    func abstractSocket() async throws {
        let listener = try NotificationListener(abstract: true)
        try ServiceManagerNotifier(socketPath: listener.path).status("abstract")
        #expect(await listener.next() == ["STATUS=abstract"])
    }

    @Test("no NOTIFY_SOCKET: notifications do nothing; a socket nobody binds or a path too long is a typed error")
    func notifierErrors() throws {
        try ServiceManagerNotifier(socketPath: nil).ready()
        try ServiceManagerNotifier(socketPath: "").ready()
        #expect(throws: ServiceManagerNotifier.Failure.self) {
            try ServiceManagerNotifier(socketPath: NSTemporaryDirectory() + "swift-uio-nobody-\(getpid())").ready()
        }
        let long = "/" + String(repeating: "x", count: 200)
        do {
            try ServiceManagerNotifier(socketPath: long).ready()
            Issue.record("a 201-byte socket path was accepted")
        } catch {
            #expect(error.errno == .fileNameTooLong)
            #expect(error.description.contains("at most 107"))
        }
    }

    @Test("work that returns stops the device and ends the service")
    func workReturns() async throws {
        let log = Recorder()
        let device = try recordedDevice(try SimulatedDevice(), log)
        let ran = Atomic<Bool>(false)
        let service = DeviceService(device: device, notifier: .init(socketPath: nil)) { device in
            #expect(device.state == .working)
            ran.store(true, ordering: .relaxed)
        }
        try await service.run()
        let didRun = ran.load(ordering: .relaxed)
        #expect(didRun)
        #expect(log.all == Self.stopped)
    }

    struct WorkFailed: Error {}

    @Test("work that throws while the device works fails the service, after the stop")
    func workThrows() async throws {
        let log = Recorder()
        let device = try recordedDevice(try SimulatedDevice(), log)
        let service = DeviceService(device: device, notifier: .init(socketPath: nil)) { _ in throw WorkFailed() }
        await #expect(throws: WorkFailed.self) { try await service.run() }
        #expect(log.all == Self.stopped)
    }

    @Test("work that fails because the device stopped under it is no failure of the service")
    func workStoppedUnder() async throws {
        let log = Recorder()
        let device = try recordedDevice(try SimulatedDevice(), log)
        let service = DeviceService(device: device, notifier: .init(socketPath: nil)) { device in
            device.waitUntilStopped()
            throw WorkFailed()  // as a request would, failed by the stop
        }
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                #expect(await waitUntilAsync { device.state == .working })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(log.all == Self.stopped)
    }

    @Test("a surprise removal ends the service without an error")
    func removal() async throws {
        let log = Recorder()
        let simulated = try SimulatedDevice()
        let device = try recordedDevice(simulated, log)
        let listener = try NotificationListener()
        let service = DeviceService(device: device, notifier: ServiceManagerNotifier(socketPath: listener.path))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            #expect(await listener.next()?.first == "READY=1")
            simulated.remove()
            try await group.waitForAll()
        }
        #expect(device.removalReason?.code == .deviceRemoved)
        #expect(device.state == .stopped)
        #expect(await listener.next()?.first?.hasPrefix("STATUS=device gone") == true)
    }

    @Test("a second stop signal while the stop hangs exits at once with 128 + the signal; the first does not")
    func secondSignal() async throws {
        let log = Recorder()
        let gate = Gate()
        let device = try recordedDevice(try SimulatedDevice(), log, d0Exit: gate)
        let (signals, raise) = AsyncStream<UnixSignal>.makeStream()
        let exited = Locked<[Int32]>([])
        let service = DeviceService(device: device, notifier: .init(socketPath: nil), work: nil,
                                    signals: .stream(signals), exit: { status in exited.withLock { $0.append(status) } })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                #expect(await waitUntilAsync { device.state == .working })
                raise.yield(.sigterm)  // the first: the group's graceful shutdown
                trigger.triggerGracefulShutdown()
                #expect(await waitUntilAsync { gate.waitForArrival(timeout: 0) }, "the stop reached D0 exit, which hangs")
                try await Task.sleep(for: .milliseconds(50))
                #expect(exited.withLock { $0 }.isEmpty, "one signal only shuts down gracefully")
                raise.yield(.sigint)
                #expect(await waitUntilAsync { !exited.withLock { $0 }.isEmpty })
                #expect(exited.withLock { $0 } == [128 + SIGINT])
                gate.open()  // the test's process does not exit: let the stop finish
                try await group.waitForAll()
            }
        }
        #expect(log.all == Self.stopped)
    }

    @Test("a blocking service's body ends when graceful shutdown calls its interrupt")
    func blockingService() async throws {
        let stop = ConditionFlag()
        let returned = Atomic<Bool>(false)
        let service = BlockingService(name: "test-blocking", body: {
            stop.wait()
            returned.store(true, ordering: .releasing)
        }, interrupt: { stop.set() })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(20))
                let early = returned.load(ordering: .acquiring)
                #expect(!early, "the body runs until interrupted")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let late = returned.load(ordering: .acquiring)
        #expect(late)
    }

    @Test("cancelling the service's task stops the device in WDF's order")
    func cancellation() async throws {
        let log = Recorder()
        let device = try recordedDevice(try SimulatedDevice(), log)
        let service = DeviceService(device: device, notifier: .init(socketPath: nil))
        let task = Task { try await service.run() }
        #expect(await waitUntilAsync { device.state == .working })
        task.cancel()
        try await task.value
        #expect(log.all == Self.stopped)
    }

    @Test("the metrics file is written at once, every interval, and at graceful shutdown; readable by all; no temporary file left")
    func metricsFile() async throws {
        let folder = NSTemporaryDirectory() + "swift-uio-metrics-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/driver.prom"
        let renders = Atomic<Int>(0)
        let service = MetricsFileService(path: FilePath(path), interval: .milliseconds(20), logger: Logger(label: "test")) {
            let n = renders.add(1, ordering: .relaxed).newValue
            return Array("uio_test_renders \(n)\n".utf8)
        }
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                #expect(await waitUntilAsync { renders.load(ordering: .relaxed) >= 3 })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written == "uio_test_renders \(renders.load(ordering: .relaxed))\n", "the last write is the one at shutdown")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["driver.prom"], "no temporary file left")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o644, "for other programs to read, whatever the umask")
        let unwritable = MetricsFileService(path: FilePath(folder + "/missing/driver.prom"), logger: Logger(label: "test")) { [] }
        #expect(throws: Errno.noSuchFileOrDirectory) { try unwritable.write() }
    }
}

/// A flag one thread waits on until another sets it.
final class ConditionFlag: Sendable {
    private let condition = NSCondition()
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() {
        condition.lock()
        flag.store(true, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }
    func wait() {
        condition.lock()
        while !isSet { condition.wait() }
        condition.unlock()
    }
}

/// Polls `condition` every millisecond, suspending rather than blocking, for up to two minutes:
/// a bound for a hung service, not a timing. Synchronous tests running beside these hold
/// Swift concurrency's few threads (two on a two-core machine) for as long as they block, and
/// under AddressSanitizer that was over 20 s, during which no service here could be resumed.
func waitUntilAsync(timeout: Duration = .seconds(120), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

@Suite("A driver's service group")
struct DriverServiceGroupTests {
    @Test("a removal ends the group without an error, the metrics written last after the device stopped")
    func removalEndsTheGroup() async throws {
        let simulated = try SimulatedDevice()
        let device = Device(resources: simulated)
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let states = Locked<[Device.State]>([])
        let folder = try TemporaryFolder()
        let metrics = MetricsFileService(path: folder.file("driver.prom"), interval: .seconds(3600), logger: Logger(label: "test")) {
            states.withLock { $0.append(device.state) }
            return []
        }
        let group = ServiceGroup(stoppingOnSignals: [DeviceService(device: device, notifier: .init(socketPath: nil)), metrics],
                                 logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await waitUntilAsync { device.state == .working && !states.withLock { $0 }.isEmpty })
            simulated.remove()
            try await tasks.waitForAll()
        }
        #expect(device.removalReason?.code == .deviceRemoved)
        #expect(states.withLock { $0 }.last == .stopped, "the last write came after the device stopped")
    }

    @Test("a removal while the group shuts down is no failure: the device service is shut down first")
    func removalDuringShutdown() async throws {
        let simulated = try SimulatedDevice()
        let device = Device(resources: simulated)
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let shuttingDown = Atomic<Bool>(false)
        let folder = try TemporaryFolder()
        // The final write removes the device and returns only once it has stopped: had the group
        // shut the metrics down first, the device service would end in the middle of that.
        let metrics = MetricsFileService(path: folder.file("driver.prom"), interval: .seconds(3600), logger: Logger(label: "test")) {
            if shuttingDown.load(ordering: .acquiring) {
                simulated.remove()
                _ = device.waitUntilStopped(timeout: .seconds(10))
                Thread.sleep(forTimeInterval: 0.1)
            }
            return []
        }
        let group = ServiceGroup(stoppingOnSignals: [DeviceService(device: device, notifier: .init(socketPath: nil)), metrics],
                                 logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                #expect(await waitUntilAsync { device.state == .working })
                shuttingDown.store(true, ordering: .releasing)
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        #expect(device.state == .stopped)
    }

    @Test("a metrics file that cannot be written fails the group, after the device stopped in WDF's order")
    func failingServiceStopsTheDevice() async throws {
        let log = Recorder()
        let device = try DeviceServiceTests().recordedDevice(try SimulatedDevice(), log)
        let folder = try TemporaryFolder()
        // Fails at its first write, whether the device has started by then or not: either way
        // the device service runs start and then the stop.
        let metrics = MetricsFileService(path: folder.file("missing/driver.prom"), logger: Logger(label: "test")) { [] }
        let group = ServiceGroup(stoppingOnSignals: [DeviceService(device: device, notifier: .init(socketPath: nil)), metrics],
                                 logger: Logger(label: "test"))
        await #expect(throws: Errno.noSuchFileOrDirectory) { try await group.run() }
        #expect(log.all == DeviceServiceTests.stopped)
    }
}

/// A folder of its own under the temporary directory, removed with the value.
final class TemporaryFolder: Sendable {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "swift-uio-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> FilePath { FilePath(path + "/" + name) }
}
