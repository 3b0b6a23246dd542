import UIOPlatform
@_spi(Simulation) import UIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A UIO device with no hardware behind it, for a driver's own unit tests.
///
/// It answers the kernel's side of the UIO contract through the same seam the real device
/// layer uses: 4-byte count reads that collapse interrupts raised before the reader wakes,
/// `POLLERR` and `EIO` after removal, irqcontrol writes, a PCI config space whose Interrupt
/// Disable bit masks INTx, and memory-backed maps. A test raises interrupts, removes the
/// device, or makes the next system call of a kind fail with any errno.
public final class SimulatedDevice: HardwareResources {
    /// A system call the simulation can be told to fail.
    public enum Call: Sendable, Hashable {
        /// `open`, `poll` and `read`/`write` of interrupt files, and reads and writes of the config space.
        case open, poll, read, write, configRead, configWrite
    }

    /// The device as discovery would describe it.
    public let device: UIODevice
    /// Whether the device is still there, shared by its regions and lines, as a handle's is.
    public let liveness = DeviceLiveness()
    /// The seam the simulation answers through.
    @_spi(Simulation) public let system: SystemCalls
    private let kernel: SimulatedKernel
    private let maps: [Int32]

    /// Makes a simulated device with memory maps of the given sizes.
    public init(name: String = "simulated", number: Int = 0, kernelDriver: KernelDriver = .uioPdrvGenirq,
                mapSizes: [Int] = [4096], irq: Int = 11) throws(UIOError) {
        let isPCI = kernelDriver == .uioPCIGeneric
        let parentName = isPCI ? "0000:00:\(number < 16 ? "0" : "")\(String(number, radix: 16)).0" : "simulated.\(number)"
        let parent = ParentDevice(
            subsystem: isPCI ? "pci" : "platform", sysName: parentName, sysPath: "/simulated/devices/\(parentName)",
            driver: kernelDriver.name,
            irq: irq,
            pci: isPCI ? PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: nil, subsystemDevice: nil,
                                     classCode: 0x00ff00, slot: parentName) : nil)
        let device = UIODevice(
            number: number, name: name, version: "simulated", eventCount: 0,
            maps: mapSizes.enumerated().map { MemoryMap(index: $0.offset, name: nil, address: 0, size: UInt64($0.element), offset: 0) },
            portRegions: [], devicePath: "/simulated/dev/uio\(number)", sysPath: parent.sysPath + "/uio/uio\(number)", parent: parent)
        var maps: [Int32] = []
        do {
            for size in mapSizes { maps.append(try memoryFile(size: size, name: "\(name)-map\(maps.count)")) }
        } catch {
            maps.forEach { _ = Glibc.close($0) }
            throw error
        }
        let kernel = try SimulatedKernel(driver: kernelDriver, devicePath: device.devicePath,
                                         configPath: isPCI ? parent.sysPath + "/config" : nil)
        self.device = device
        self.kernel = kernel
        self.maps = maps
        self.system = kernel.systemCalls()
    }

    deinit { maps.forEach { _ = Glibc.close($0) } }

    // MARK: - What a test does

    /// Raises the interrupt `times` times, as the device asserting its line would.
    public func raise(times: Int = 1) {
        for _ in 0..<times { kernel.raise() }
    }

    /// Unregisters the device, as an unbind or hot-unplug does: waiters see `POLLERR`, reads
    /// and writes `EIO`, and opening fails with `ENOENT`.
    public func remove() { kernel.remove() }

    /// Makes the next `call` fail with `errno`; queued failures are used in order.
    public func failNext(_ call: Call, with errno: Errno) {
        kernel.state.withLock { $0.failures[call, default: []].append(errno) }
    }

    /// The device's total interrupt count, as sysfs `event` would show it.
    public var eventCount: UInt32 { kernel.state.withLock { $0.count } }
    /// Whether the line delivers the next interrupt (not masked by the simulated driver).
    public var isLineEnabled: Bool { kernel.state.withLock { $0.lineEnabled } }
    /// Every value written to irqcontrol, in order.
    public var controlWrites: [UInt32] { kernel.state.withLock { $0.controlWrites } }
    /// How many interrupt files are open now.
    public var openInterruptFiles: Int { kernel.state.withLock { $0.interruptFiles.count } }

    // MARK: - What a driver under test uses

    /// Releases the simulated device: later opens and maps throw `UIOError.Code.closed`.
    public func close() { kernel.state.withLock { $0.closed = true } }

    private func requireOpen() throws(UIOError) {
        if kernel.state.withLock({ $0.closed }) { throw UIOError(.closed, subject: device.devicePath, reason: "used after close") }
    }

    /// Nothing to start: a test reports the removal with `liveness.markRemoved()`.
    public func watchForRemoval() {}

    /// Opens the device's interrupt line, as `UIOHandle.interruptLine(reArm:)` does.
    public func interruptLine(reArm: ReArmMethod? = nil) throws(UIOError) -> InterruptLine {
        try requireOpen()
        let method = reArm ?? ReArmMethod.detect(for: device)
        let config = device.parent?.pci == nil ? nil : try configSpace()
        let fd: Int32
        switch system.open(device.devicePath, O_RDWR) {
        case .success(let opened): fd = opened
        case .failure(let errno):
            config?.close()
            throw UIOError.system(errno, operation: .openNode, subject: device.devicePath)
        }
        return try InterruptLine(device: device, fd: fd, baseline: eventCount, reArm: method, config: config, system: system,
                                 liveness: liveness)
    }

    /// Opens the simulated PCI config space (only for ``KernelDriver/pciGeneric``).
    public func configSpace() throws(UIOError) -> ConfigSpace {
        try requireOpen()
        guard let parent = device.parent, parent.pci != nil else {
            throw UIOError(.notPCIDevice, subject: device.devicePath, reason: "the simulated device is not PCI")
        }
        return try ConfigSpace(path: parent.sysPath + "/config", system: system)
    }

    /// Maps memory map `index`; every mapping of one index shares the same memory.
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion {
        try requireOpen()
        guard maps.indices.contains(index) else {
            throw UIOError(.noSuchRegion, subject: device.devicePath, reason: "has no map \(index); it has \(maps.count)")
        }
        let size = Int(device.maps[index].size)
        let address: UnsafeMutableRawPointer
        switch system.mmap(maps[index], size, 0) {
        case .success(let mapped): address = mapped
        case .failure(let errno): throw UIOError.system(errno, operation: .map, subject: device.devicePath)
        }
        return MappedRegion(name: "\(device.devicePath) map\(index)", mapping: address, mappingLength: size,
                            offset: 0, size: size, system: system, liveness: liveness)
    }
}

extension KernelDriver {
    /// A simulated driver that never masks: every raise is counted; irqcontrol writes are
    /// recorded. (uio_pdrv_genirq and uio_pci_generic are simulated as they mask.)
    public static let unmasked = KernelDriver(name: "simulated")
}
