import Synchronization
import Testing
import TestSupport
import UIO
import UIODriver
import UIOTesting
import UIOPlatform

@Suite("DMA enablers and common buffers")
struct DMAEnablerTests {
    static let config = DMAEnablerConfig(profile: .packet, maximumLength: 4096, addressWidthOverride: 28)

    /// A device whose callbacks record Bus Master, with a DMA enabler and one common buffer whose
    /// memory the callbacks check is still there.
    func recordedDevice(_ simulated: SimulatedDevice, _ log: Recorder) throws -> (Device, DMAEnabler, CommonBuffer) {
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(
            prepareHardware: { _, _ in log.record("prepareHardware bm=\(simulated.isBusMastering)") },
            d0Entry: { _ in log.record("d0Entry bm=\(simulated.isBusMastering)") },
            d0Exit: { _ in log.record("d0Exit bm=\(simulated.isBusMastering)") },
            releaseHardware: { _ in log.record("releaseHardware bm=\(simulated.isBusMastering) pages=\(simulated.freeHugePages)") },
            surpriseRemoval: { _, _ in log.record("surpriseRemoval pages=\(simulated.freeHugePages)") }))
        let enabler = try DMAEnabler(device: device, config: Self.config)
        let buffer = try enabler.createCommonBuffer(length: 2048)
        return (device, enabler, buffer)
    }

    @Test("Bus Master goes on before D0 entry and off after D0 exit; the buffers are freed after that, when the driver lets go too")
    func order() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        var (device, enabler, buffer): (Device?, DMAEnabler?, CommonBuffer?) = try recordedDevice(simulated, log)
        #expect(simulated.freeHugePages == 7)
        #expect(buffer!.length == 2048)
        #expect(buffer!.alignedLogicalAddress % 64 == 0)
        #expect(buffer!.alignedVirtualAddress == buffer!.memory.baseAddress)
        try device!.start()
        device!.stop()
        #expect(log.all == ["prepareHardware bm=false", "d0Entry bm=true", "d0Exit bm=true", "releaseHardware bm=false pages=7"])
        #expect(enabler!.commonBufferCount == 0)
        #expect(simulated.freeHugePages == 7)  // the driver still holds its buffer
        #expect(try buffer!.read(UInt8.self, at: 0) == 0)
        (device, enabler, buffer) = (nil, nil, nil)
        #expect(simulated.freeHugePages == 8)
    }

    @Test("without a DMA enabler, Bus Master is left alone")
    func noEnabler() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(d0Entry: { _ in log.record("d0Entry bm=\(simulated.isBusMastering)") }))
        try device.start()
        device.stop()
        #expect(log.all == ["d0Entry bm=false"])
    }

    @Test("a failed D0 entry turns Bus Master off again")
    func failedD0Entry() throws {
        struct Refused: Error {}
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated, callbacks: DeviceCallbacks(d0Entry: { _ in throw Refused() }))
        _ = try DMAEnabler(device: device, config: Self.config)
        #expect(throws: DriverError.self) { try device.start() }
        #expect(!simulated.isBusMastering)
        #expect(device.state == .stopped)
    }

    @Test("a config that breaks a rule is STATUS_INVALID_PARAMETER", arguments: [
        DMAEnablerConfig(profile: .packet, maximumLength: 0),
        DMAEnablerConfig(profile: .packet64, maximumLength: 4096, addressWidthOverride: 8),
        DMAEnablerConfig(profile: .packet64, maximumLength: 4096, addressWidthOverride: 65),
        DMAEnablerConfig(profile: .packet, maximumLength: 4096, alignment: 48),
    ])
    func badConfig(config: DMAEnablerConfig) throws {
        let device = Device(resources: try SimulatedDevice(kernelDriver: .uioPCIGeneric))
        let error = try #require(throws: DriverError.self) { try DMAEnabler(device: device, config: config) }
        #expect(error.status == .invalidParameter)
    }

    @Test("the profile sets the address width unless overridden")
    func widths() {
        #expect(DMAEnablerConfig(profile: .packet, maximumLength: 1).highestAddress == 0xffff_ffff)
        #expect(DMAEnablerConfig(profile: .packet64, maximumLength: 1).highestAddress == .max)
        #expect(Self.config.highestAddress == 0x0fff_ffff)
        #expect(Self.config.addressWidth == 28)
    }

    @Test("enablers come in device add or prepare hardware; common buffers until the device stops")
    func states() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let enabler = try DMAEnabler(device: device, config: Self.config)
        try device.start()
        let late = try #require(throws: DriverError.self) { try DMAEnabler(device: device, config: Self.config) }
        #expect(late.status == .invalidDeviceState)
        _ = try enabler.createCommonBuffer(length: 64)  // allowed while working
        device.stop()
        let afterStop = try #require(throws: DriverError.self) { try enabler.createCommonBuffer(length: 64) }
        #expect(afterStop.status == .invalidDeviceState)
    }

    @Test("bad buffer requests are STATUS_INVALID_PARAMETER: no bytes, an alignment that is not a power of two or beyond a huge page", arguments: [(0, nil), (-1, nil), (64, 3), (64, 4 << 20)] as [(Int, Int?)])
    func badBuffers(length: Int, alignment: Int?) throws {
        let device = Device(resources: try SimulatedDevice(kernelDriver: .uioPCIGeneric))
        let enabler = try DMAEnabler(device: device, config: Self.config)
        let error = try #require(throws: DriverError.self) { try enabler.createCommonBuffer(length: length, alignment: alignment) }
        #expect(error.status == .invalidParameter)
    }

    @Test("as in WDF, the maximum length bounds transfers, not common buffers: a 64 KiB ring for 4 KiB transfers")
    func longerThanATransfer() throws {
        let device = Device(resources: try SimulatedDevice(kernelDriver: .uioPCIGeneric))
        let enabler = try DMAEnabler(device: device, config: Self.config)
        #expect(try enabler.createCommonBuffer(length: 64 << 10).length == 64 << 10)
        #expect(enabler.maximumLength == 4096)
    }

    @Test("a driver may keep its enabler and buffers in the device's context: once stopped and let go, the memory is freed (no cycle)")
    func contextHoldsBuffers() throws {
        final class Context: Sendable {
            let dma = Locked<(DMAEnabler, CommonBuffer)?>(nil)
        }
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        weak var weakDevice: Device?
        do {
            let device = Device(resources: simulated, context: Context())
            weakDevice = device
            let enabler = try DMAEnabler(device: device, config: Self.config)
            let buffer = try enabler.createCommonBuffer(length: 4096)
            device.context(as: Context.self).dma.withLock { $0 = (enabler, buffer) }
            try device.start()
            device.stop()
            #expect(simulated.freeHugePages == 7)
        }
        #expect(weakDevice == nil)
        #expect(simulated.freeHugePages == 8)
    }

    @Test("memory beyond the enabler's width is STATUS_INSUFFICIENT_RESOURCES; hidden frames STATUS_ACCESS_DENIED; each names the cause")
    func allocationFailures() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let enabler = try DMAEnabler(device: device, config: Self.config)
        simulated.nextHugePageAddress = 0x1000_0000
        let beyond = try #require(throws: DriverError.self) { try enabler.createCommonBuffer(length: 64) }
        #expect(beyond.status == .insufficientResources)
        #expect(beyond.underlying?.code == .addressBeyondDeviceReach)
        #expect(beyond.reason.contains("28-bit"))
        simulated.nextHugePageAddress = 0x0400_0000
        simulated.hidesPhysicalAddresses = true
        let hidden = try #require(throws: DriverError.self) { try enabler.createCommonBuffer(length: 64) }
        #expect(hidden.status == .accessDenied)
        #expect(enabler.commonBufferCount == 0)
        #expect(simulated.freeHugePages == 8)
    }

    @Test("a simulated device's DMA lands while Bus Master is on; another open file's close turns it off, the transfer is lost, and the driver is told once")
    func busMasterLost() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let enabler = try DMAEnabler(device: device, config: Self.config)
        let buffer = try enabler.createCommonBuffer(length: 256)
        #expect(simulated.dmaMemory(at: buffer.alignedLogicalAddress, count: 256) == nil)  // Bus Master off before start
        try device.start()
        #expect(try !enabler.busMasterWasLost())
        try #require(simulated.dmaMemory(at: buffer.alignedLogicalAddress, count: 256)).storeBytes(of: 0xab, as: UInt8.self)
        #expect(try buffer.read(UInt8.self, at: 0) == 0xab)
        try simulated.open(exclusive: false).close()  // a second program's open and close
        #expect(simulated.dmaMemory(at: buffer.alignedLogicalAddress, count: 256) == nil)
        #expect(try enabler.busMasterWasLost())
        #expect(try !enabler.busMasterWasLost())
        #expect(simulated.dmaMemory(at: buffer.alignedLogicalAddress, count: 256) != nil)
        device.stop()
        let afterStop = try #require(throws: DriverError.self) { try enabler.busMasterWasLost() }
        #expect(afterStop.status == .invalidDeviceState)
    }

    @Test("another holder keeps Bus Master on at stop: the buffers are never freed, since the device may still reach them")
    func otherHolderAtStop() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let other = try simulated.configSpace()
        try other.acquireBusMastering()
        do {
            let device = Device(resources: simulated)
            _ = try DMAEnabler(device: device, config: Self.config).createCommonBuffer(length: 64)
            try device.start()
            device.stop()
        }
        #expect(simulated.freeHugePages == 7)
        try other.releaseBusMastering()
    }

    @Test("an enabler whose device object is gone: STATUS_INVALID_DEVICE_STATE, not a crash")
    func deviceGone() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        var device: Device? = Device(resources: simulated)
        let enabler = try DMAEnabler(device: device!, config: Self.config)
        device = nil
        let create = try #require(throws: DriverError.self) { try enabler.createCommonBuffer(length: 64) }
        #expect(create.status == .invalidDeviceState)
        let check = try #require(throws: DriverError.self) { try enabler.busMasterWasLost() }
        #expect(check.status == .invalidDeviceState)
    }

    @Test("two enablers of one device are both told of one loss")
    func twoEnablers() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let device = Device(resources: simulated)
        let first = try DMAEnabler(device: device, config: Self.config)
        let second = try DMAEnabler(device: device, config: Self.config)
        try device.start()
        defer { device.stop() }
        try simulated.open(exclusive: false).close()
        #expect(try first.busMasterWasLost())
        #expect(try second.busMasterWasLost())
        #expect(try !first.busMasterWasLost())
        #expect(try !second.busMasterWasLost())
    }

    @Test("Bus Master that cannot be turned off at stop: the buffers are never freed, since the device may still reach them")
    func busMasterStuckOn() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        do {
            let device = Device(resources: simulated)
            let enabler = try DMAEnabler(device: device, config: Self.config)
            _ = try enabler.createCommonBuffer(length: 64)
            try device.start()
            simulated.failNext(.configRead, with: .ioError)
            device.stop()  // the read before the write fails: Bus Master is not known to be off
        }
        #expect(simulated.freeHugePages == 7)
    }

    @Test("a platform device has no Bus Master: its buffers work and nothing is ever lost")
    func platformDevice() throws {
        let simulated = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let device = Device(resources: simulated)
        let enabler = try DMAEnabler(device: device, config: Self.config)
        let buffer = try enabler.createCommonBuffer(length: 128)
        try device.start()
        #expect(try !enabler.busMasterWasLost())
        try #require(simulated.dmaMemory(at: buffer.alignedLogicalAddress + 8, count: 4)).storeBytes(of: UInt32(7), as: UInt32.self)
        #expect(try buffer.read(UInt32.self, at: 8) == 7)
        device.stop()
    }

    @Test("surprise removal: the device alone holds the buffers; they are still there in the removal callback and freed after the way down")
    func surpriseRemoval() throws {
        let log = Recorder()
        let simulated = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let (device, enabler, _) = try recordedDevice(simulated, log)  // the driver keeps no buffer
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        try device.start()
        #expect(simulated.freeHugePages == 7)
        simulated.remove()
        #expect(device.waitUntilStopped(timeout: .seconds(10)))
        #expect(log.all.contains("surpriseRemoval pages=7"))
        #expect(enabler.commonBufferCount == 0)
        #expect(simulated.freeHugePages == 8)
        _ = interrupt
    }
}
