import UIOPlatform
import Foundation
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting

@Suite("Device lifecycle, enable and disable, stop, surprise removal")
struct DeviceLifecycleTests {
    /// A device whose callbacks, and whose interrupt's enable and disable, record themselves.
    func recordedDevice(_ simulated: SimulatedDevice, _ log: Recorder) throws -> (Device, Interrupt<Int>) {
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(
            prepareHardware: { _, _ in log.record("prepareHardware") },
            d0Entry: { _ in log.record("d0Entry") },
            d0Exit: { _ in log.record("d0Exit") },
            releaseHardware: { _ in log.record("releaseHardware") },
            surpriseRemoval: { _, reason in log.record("surpriseRemoval(\(reason.code))") }))
        var config = InterruptConfig<Int>(isr: { interrupt, _ in
            interrupt.withLockedContext { $0 += 1 }
            return true
        })
        config.enable = { interrupt, _ in
            // Runs with the interrupt lock held: the locked context is reachable.
            interrupt.withLockedContext { _ in log.record("enable") }
        }
        config.disable = { interrupt, _ in
            interrupt.withLockedContext { _ in log.record("disable") }
        }
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        return (device, interrupt)
    }

    @Test("start and stop call WDF's callbacks in WDF's order")
    func order() throws {
        let log = Recorder()
        let (device, _) = try recordedDevice(try SimulatedDevice(), log)
        #expect(device.state == .added)
        try device.start()
        #expect(device.state == .working)
        #expect(log.all == ["prepareHardware", "d0Entry", "enable"])
        device.stop()
        device.stop()
        #expect(device.state == .stopped)
        #expect(log.all == ["prepareHardware", "d0Entry", "enable", "disable", "d0Exit", "releaseHardware"])
        #expect(device.waitUntilStopped(timeout: .zero))
    }

    @Test("disable keeps interrupts from the ISR until enable, which delivers the held one")
    func disableEnable() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let (device, interrupt) = try recordedDevice(simulated, log)
        try device.start()
        defer { device.stop() }
        try interrupt.disable()
        #expect(!interrupt.isEnabled)
        simulated.raise(times: 3)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(interrupt.synchronize { $0 } == 0)
        try interrupt.enable()
        #expect(waitUntil { interrupt.synchronize { $0 } == 1 })
        #expect(log.all.suffix(2) == ["disable", "enable"])
    }

    @Test("reportInactive masks the line without the disable callback; reportActive unmasks it")
    func activity() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let (device, interrupt) = try recordedDevice(simulated, log)
        try device.start()
        defer { device.stop() }
        try interrupt.reportInactive()
        simulated.raise()
        Thread.sleep(forTimeInterval: 0.05)
        #expect(interrupt.synchronize { $0 } == 0)
        #expect(!log.all.contains("disable"))
        try interrupt.reportActive()
        #expect(waitUntil { interrupt.synchronize { $0 } == 1 })
    }

    @Test("enable and disable before the device starts are invalidDeviceState")
    func enableBeforeStart() throws {
        let (device, interrupt) = try recordedDevice(try SimulatedDevice(), Recorder())
        defer { device.stop() }
        #expect(throws: DriverError.self) { try interrupt.enable() }
        let error = try #require(throws: DriverError.self) { try interrupt.disable() }
        #expect(error.status == .invalidDeviceState)
    }

    @Test("a failing prepare hardware fails start, releases the device and leaves nothing running")
    func prepareFails() throws {
        struct Broken: Error {}
        let simulated = try SimulatedDevice()
        let log = Recorder()
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(
            prepareHardware: { _, _ in throw Broken() },
            releaseHardware: { _ in log.record("releaseHardware") }))
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let error = try #require(throws: DriverError.self) { try device.start() }
        #expect(error.status == .callbackFailed)
        #expect(error.callbackError is Broken)
        #expect(device.state == .stopped)
        #expect(simulated.openInterruptFiles == 0)
        #expect(log.all == ["releaseHardware"])
        #expect(throws: UIOError.self) { try simulated.interruptLine() }
    }

    @Test("a device that cannot open its interrupt line fails start with the device error")
    func connectFails() throws {
        let simulated = try SimulatedDevice()
        let device = Device(resources: simulated)
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        simulated.failNext(.open, with: .permissionDenied)
        let error = try #require(throws: DriverError.self) { try device.start() }
        #expect(error.status == .deviceError)
        #expect(error.underlying?.code == .permissionDenied)
        #expect(device.state == .stopped)
    }

    @Test("stop waits for an ISR under way, and no callback runs after it returns")
    func stopDuringISR() throws {
        let simulated = try SimulatedDevice(kernelDriver: .unmasked)
        let device = Device(resources: simulated)
        let gate = Gate()
        let log = Recorder()
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { interrupt, _ in
                log.record("isr")
                if log.count(of: "isr") == 1 { gate.pass() }
                interrupt.queueDPC()
                return true
            },
            dpc: { _, _ in log.record("dpc") }), context: 0)
        try device.start()
        simulated.raise()
        #expect(gate.waitForArrival())
        let stopped = Recorder()
        let stopper = Thread { device.stop(); stopped.record("stopped") }
        stopper.start()
        Thread.sleep(forTimeInterval: 0.05)
        #expect(stopped.all.isEmpty, "stop must wait for the ISR under way")
        gate.open()
        #expect(waitUntil { stopped.all == ["stopped"] })
        let afterStop = log.all
        #expect(afterStop == ["isr", "dpc"], "the DPC the ISR queued ran before stop returned")
        simulated.raise(times: 3)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(log.all == afterStop)
    }

    @Test("surprise removal ends the ISR thread and runs surpriseRemoval, then the way down")
    func surpriseRemoval() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let (device, interrupt) = try recordedDevice(simulated, log)
        try device.start()
        simulated.raise()
        #expect(waitUntil { interrupt.statistics.wakeUps == 1 })
        simulated.remove()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        #expect(device.state == .stopped)
        #expect(device.removalReason?.code == .deviceRemoved)
        #expect(log.all == ["prepareHardware", "d0Entry", "enable", "surpriseRemoval(deviceRemoved)", "disable", "d0Exit", "releaseHardware"])
        #expect(simulated.openInterruptFiles == 0)
        device.stop()
    }

    @Test("after surprise removal, register access throws deviceRemoved instead of touching the memory")
    func accessAfterRemoval() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let region = try simulated.mapRegion(0)
        let register = try region.register(UInt32.self, at: 0)
        let device = Device(resources: simulated)
        _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        #expect(try region.read(UInt32.self, at: 0) == 0)
        simulated.remove()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        let error = try #require(throws: UIOError.self) { try region.read(UInt32.self, at: 0) }
        #expect(error.code == .deviceRemoved)
        #expect(throws: UIOError.self) { try region.write(UInt32(1), at: 0) }
        #expect(throws: UIOError.self) { try region.register(UInt32.self, at: 0) }
        #expect(register.region.liveness.isRemoved, "a register made before can ask")
    }

    @Test("calls on a stopped interrupt: enable and disable are invalidDeviceState, queueing is refused")
    func stoppedInterrupt() throws {
        let device = Device(resources: try SimulatedDevice())
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }, dpc: { _, _ in }), context: 0)
        try device.start()
        device.stop()
        #expect(!interrupt.queueDPC())
        #expect(!interrupt.queueWorkItem())
        for call in [interrupt.enable, interrupt.disable, interrupt.reportActive, interrupt.reportInactive] {
            let error = try #require(throws: DriverError.self) { try call() }
            #expect(error.status == .invalidDeviceState)
        }
        let again = try #require(throws: DriverError.self) { try device.start() }
        #expect(again.status == .invalidDeviceState)
    }

    @Test("1,000 start/stop cycles under a stream of interrupts leave no interrupt file open")
    func repeatedStops() throws {
        for _ in 0..<1000 {
            let simulated = try SimulatedDevice(kernelDriver: .unmasked)
            let device = Device(resources: simulated)
            _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { interrupt, _ in interrupt.queueDPC(); return true }, dpc: { _, _ in }), context: 0)
            try device.start()
            simulated.raise(times: 3)
            device.stop()
            #expect(simulated.openInterruptFiles == 0)
        }
    }
}

@Suite("Removal without an interrupt object")
struct RemovalWithoutInterruptTests {
    @Test("a started device without an interrupt object hears of the removal its handle's watcher noticed")
    func removalReachesTheDriver() throws {
        let simulated = try SimulatedDevice()
        let removals = Locked<[UIOError.Code]>([])
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(surpriseRemoval: { _, reason in
            removals.withLock { $0.append(reason.code) }
        }))
        try device.start()
        simulated.liveness.markRemoved()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        #expect(removals.withLock { $0 } == [.deviceRemoved])
        #expect(device.removalReason?.code == .deviceRemoved)
    }
}
