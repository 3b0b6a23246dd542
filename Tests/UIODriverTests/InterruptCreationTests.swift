import Testing
import UIO
import UIODriver
import UIOTesting

@Suite("Interrupt creation: WDF's validation and errors")
struct InterruptCreationTests {
    static let isr: InterruptConfig<Int>.ServiceRoutine = { _, _ in true }
    static let deferred: InterruptConfig<Int>.DeferredRoutine = { _, _ in }

    func device(_ level: ExecutionLevel = .inheritFromParent, driver: KernelDriver = .uioPdrvGenirq) throws -> Device {
        Device(resources: try SimulatedDevice(kernelDriver: driver), executionLevel: level)
    }

    func status(of config: InterruptConfig<Int>, parent: (Device) throws -> any FrameworkObject = { $0 }, level: ExecutionLevel = .inheritFromParent,
                driver: KernelDriver = .uioPdrvGenirq) throws -> DriverError.Status? {
        let device = try device(level, driver: driver)
        defer { device.stop() }
        let parent = try parent(device)
        do throws(DriverError) {
            _ = try Interrupt(parent: parent, config: config, context: 0)
            return nil
        } catch {
            return error.status
        }
    }

    @Test("a config with an ISR, and a DPC or a work item, is accepted")
    func valid() throws {
        #expect(try status(of: InterruptConfig(isr: Self.isr)) == nil)
        #expect(try status(of: InterruptConfig(isr: Self.isr, dpc: Self.deferred)) == nil)
        var workItem = InterruptConfig<Int>(isr: Self.isr)
        workItem.workItem = Self.deferred
        #expect(try status(of: workItem) == nil)
    }

    @Test("no ISR is invalidParameter")
    func noISR() throws {
        #expect(try status(of: InterruptConfig(isr: nil)) == .invalidParameter)
    }

    @Test("a DPC and a work item both is invalidParameter")
    func dpcAndWorkItem() throws {
        var config = InterruptConfig<Int>(isr: Self.isr, dpc: Self.deferred)
        config.workItem = Self.deferred
        #expect(try status(of: config) == .invalidParameter)
    }

    @Test("a wait lock without passive handling, or a spin lock with it, is invalidParameter")
    func lockKinds() throws {
        var wait = InterruptConfig<Int>(isr: Self.isr)
        wait.waitLock = WaitLock()
        #expect(try status(of: wait) == .invalidParameter)
        wait.passiveHandling = true
        #expect(try status(of: wait) == nil)
        var spin = InterruptConfig<Int>(isr: Self.isr)
        spin.spinLock = SpinLock()
        #expect(try status(of: spin) == nil)
        spin.passiveHandling = true
        #expect(try status(of: spin) == .invalidParameter)
    }

    @Test("automatic serialization of a DPC under a passive parent is incompatibleExecutionLevel")
    func dpcUnderPassive() throws {
        var config = InterruptConfig<Int>(isr: Self.isr, dpc: Self.deferred)
        config.automaticSerialization = true
        #expect(try status(of: config, level: .passive) == .incompatibleExecutionLevel)
        #expect(try status(of: config, level: .dispatch) == nil)
        #expect(try status(of: config, level: .inheritFromParent) == nil)
    }

    @Test("automatic serialization of a work item under a dispatch parent is incompatibleExecutionLevel")
    func workItemUnderDispatch() throws {
        var config = InterruptConfig<Int>(isr: Self.isr)
        config.workItem = Self.deferred
        config.automaticSerialization = true
        #expect(try status(of: config, level: .dispatch) == .incompatibleExecutionLevel)
        #expect(try status(of: config, level: .inheritFromParent) == .incompatibleExecutionLevel)
        #expect(try status(of: config, level: .passive) == nil)
    }

    @Test("a queue's own execution level decides, when the queue is the parent")
    func queueParent() throws {
        var config = InterruptConfig<Int>(isr: Self.isr, dpc: Self.deferred)
        config.automaticSerialization = true
        #expect(try status(of: config, parent: { try Queue(device: $0) }) == nil)
        #expect(try status(of: config, parent: { try Queue(device: $0, executionLevel: .passive) }) == .incompatibleExecutionLevel)
    }

    @Test("a parent that is neither a device nor a queue is parentAssignmentNotAllowed")
    func wrongParent() throws {
        let device = try device()
        defer { device.stop() }
        let first = try Interrupt(parent: device, config: InterruptConfig(isr: Self.isr), context: 0)
        let error = try #require(throws: DriverError.self) { try Interrupt(parent: first, config: InterruptConfig(isr: Self.isr), context: 0) }
        #expect(error.status == .parentAssignmentNotAllowed)
    }

    @Test("a second interrupt on one UIO device is insufficientResources")
    func secondInterrupt() throws {
        let device = try device()
        defer { device.stop() }
        _ = try Interrupt(parent: device, config: InterruptConfig(isr: Self.isr), context: 0)
        let error = try #require(throws: DriverError.self) { try Interrupt(parent: device, config: InterruptConfig(isr: Self.isr), context: 0) }
        #expect(error.status == .insufficientResources)
        #expect(error.description.contains("one interrupt vector"))
    }

    @Test("creation after device add and prepare hardware is invalidDeviceState")
    func afterStart() throws {
        let device = try device()
        try device.start()
        defer { device.stop() }
        let error = try #require(throws: DriverError.self) { try Interrupt(parent: device, config: InterruptConfig(isr: Self.isr), context: 0) }
        #expect(error.status == .invalidDeviceState)
        #expect(error.description.contains("STATUS_INVALID_DEVICE_STATE"))
    }

    @Test("creation in prepare hardware is allowed")
    func inPrepareHardware() throws {
        let created = Recorder()
        let device = Device(resources: try SimulatedDevice(), callbacks: DeviceCallbacks(prepareHardware: { device, _ in
            _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            created.record("interrupt")
        }))
        try device.start()
        device.stop()
        #expect(created.all == ["interrupt"])
    }

    @Test("canWakeDevice, and an unshared vector on uio_pci_generic, are notSupported")
    func notSupported() throws {
        var wake = InterruptConfig<Int>(isr: Self.isr)
        wake.canWakeDevice = true
        #expect(try status(of: wake) == .notSupported)
        var exclusive = InterruptConfig<Int>(isr: Self.isr)
        exclusive.shareVector = .no
        #expect(try status(of: exclusive, driver: .uioPCIGeneric) == .notSupported)
        #expect(try status(of: exclusive, driver: .uioPdrvGenirq) == nil)
    }
}
