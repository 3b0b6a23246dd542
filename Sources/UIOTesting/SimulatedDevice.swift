import UIOPlatform
@_spi(Simulation) import UIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A UIO device with no hardware behind it, for a driver's own unit tests.
///
/// A simulated kernel answers the system-call seam the real device layer uses, so what a test
/// drives is the code that ships: ``open(exclusive:)`` hands out a real `UIOHandle`, with its
/// claim (a second exclusive open is `deviceBusy`), its identity checks, its counting open of the
/// interrupt line, its config-space fallback and its maps at `index × page size`. The kernel side
/// counts interrupts and collapses those raised before the reader wakes as `uio_read` does,
/// reports `POLLERR` and `EIO` after removal, masks as the simulated kernel driver does (irqcontrol,
/// or the PCI Interrupt Disable bit in a simulated config space), and backs maps with memory. A
/// test raises interrupts, removes the device, or makes the next system call of a kind fail with
/// any errno.
///
/// As `HardwareResources` the device uses a handle of its own, opened at the first use.
public final class SimulatedDevice: UIOResources {
    /// A system call the simulation can be told to fail.
    public enum Call: Sendable, Hashable {
        /// `open` of the node and of the config space, `poll` and `read`/`write` of interrupt
        /// files, and reads and writes of the config space.
        case open, poll, read, write, configRead, configWrite
    }

    /// The device as discovery would describe it.
    public let device: UIODevice
    /// The seam the simulation answers through.
    package let system: SystemCalls
    private let kernel: SimulatedKernel
    /// The handle behind the `HardwareResources` members.
    private let resources = Locked(Resources.unopened)
    /// The liveness a device whose handle cannot open reports (it was removed before any use).
    private let unopenedLiveness = DeviceLiveness()
    private let deliveryCPUs = Locked<[Int]?>(nil, countingAcquisitions: false)

    private enum Resources {
        /// Opened at the first use.
        case unopened
        case open(UIOHandle)
        /// Closed before any use.
        case closed
    }

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
            for size in mapSizes {
                maps.append(try memoryFile(size: (size + pageSize - 1) / pageSize * pageSize, name: "\(name)-map\(maps.count)"))
            }
        } catch {
            maps.forEach { _ = Glibc.close($0) }
            throw error
        }
        let kernel = try SimulatedKernel(driver: kernelDriver, device: device, mapMemory: maps)
        self.device = device
        self.kernel = kernel
        self.system = kernel.systemCalls()
    }

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
    /// How many descriptors are open on the node now (a handle's claim keeps its files open until
    /// the handle and everything made from it are gone).
    public var openInterruptFiles: Int { kernel.state.withLock { $0.interruptFiles.count + $0.interruptAliases.count } }

    // MARK: - DMA

    /// Huge pages the simulated kernel has free for DMA memory (8 of 2 MiB at first); at 0, an
    /// allocation fails as with no huge pages reserved.
    public var freeHugePages: Int {
        get { kernel.hugePages.state.withLock { $0.free } }
        set { kernel.hugePages.state.withLock { $0.free = newValue } }
    }

    /// The simulated physical address of the next huge page handed out (64 MiB at first); a
    /// multiple of 2 MiB, as a huge page's is.
    public var nextHugePageAddress: UInt64 {
        get { kernel.hugePages.state.withLock { $0.nextPhysical } }
        set {
            precondition(newValue % UInt64(SimulatedHugePages.hugePageSize) == 0, "a huge page's address is a multiple of 2 MiB")
            kernel.hugePages.state.withLock { $0.nextPhysical = newValue }
        }
    }

    /// Where the next huge pages handed out lie, in this order, before ``nextHugePageAddress``
    /// takes over again: a pool the kernel hands out in an order of its own, as 6.12's changes
    /// from boot to boot. Each a multiple of 2 MiB.
    public var queuedHugePageAddresses: [UInt64] {
        get { kernel.hugePages.state.withLock { $0.queued } }
        set {
            precondition(newValue.allSatisfy { $0 % UInt64(SimulatedHugePages.hugePageSize) == 0 }, "a huge page's address is a multiple of 2 MiB")
            kernel.hugePages.state.withLock { $0.queued = newValue }
        }
    }

    /// Whether huge pages handed out together lie next to each other physically (at first) or
    /// with a gap between them.
    public var hugePagesAreAdjacent: Bool {
        get { kernel.hugePages.state.withLock { $0.adjacent } }
        set { kernel.hugePages.state.withLock { $0.adjacent = newValue } }
    }

    /// Whether pagemap hides frame numbers, as the kernel does from a reader without
    /// `CAP_SYS_ADMIN`.
    public var hidesPhysicalAddresses: Bool {
        get { kernel.hugePages.state.withLock { $0.hidesFrames } }
        set { kernel.hugePages.state.withLock { $0.hidesFrames = newValue } }
    }

    /// Whether faulting in huge pages fails with ENOMEM, as under a hugetlb cgroup limit lower
    /// than the pages reserved.
    public var failsToFaultInHugePages: Bool {
        get { kernel.hugePages.state.withLock { $0.populateFails } }
        set { kernel.hugePages.state.withLock { $0.populateFails = newValue } }
    }

    /// Whether the simulated PCI command register has Bus Master Enable on (`false` for a device
    /// that is not PCI). uio_pci_generic turns it off whenever an open file of the device closes;
    /// so does the simulation.
    public var isBusMastering: Bool { kernel.isBusMastering }

    /// What the device reaches by DMA at `deviceAddress`: `count` bytes of a DMA buffer, or `nil`
    /// when Bus Master is off or the range is not within one buffer's huge page — where a real
    /// device's transfer would not land. A simulated device model reads and writes through it;
    /// the pointer is good while the buffer lives.
    public func dmaMemory(at deviceAddress: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, device.parent?.pci == nil || kernel.isBusMastering else { return nil }
        return kernel.hugePages.memory(at: deviceAddress, count: count)
    }

    // MARK: - What a driver under test uses

    /// Opens the device through the simulated kernel, as `UIODevice.open(exclusive:)` opens a
    /// real one.
    public func open(exclusive: Bool = true) throws(UIOError) -> UIOHandle {
        try UIOHandle(device: device, exclusive: exclusive, system: system)
    }

    /// The handle the `HardwareResources` members use: opened at the first use, and closed
    /// (then `UIOError.Code.closed` for good) by ``close()``.
    private func handle() throws(UIOError) -> UIOHandle {
        try resources.withLock { (resources: inout Resources) throws(UIOError) -> UIOHandle in
            switch resources {
            case .open(let handle):
                return handle
            case .closed:
                throw UIOError(.closed, subject: device.devicePath, reason: "used after close")
            case .unopened:
                let handle = try open()
                resources = .open(handle)
                return handle
            }
        }
    }

    /// Whether the device is still there, shared by its handle's regions and lines. One object
    /// for the device's life: a device whose handle could not open reports its own, marked
    /// removed once the device is.
    public var liveness: DeviceLiveness {
        if let handle = try? handle() { return handle.liveness }
        if kernel.state.withLock({ $0.removed }) { unopenedLiveness.markRemoved() }
        return unopenedLiveness
    }

    /// The CPUs the simulated line says it is delivered to (``deliverInterrupts(toCPUs:)``);
    /// `nil` until set, as for a line the kernel says nothing about.
    public func interruptDeliveryCPUs(vector: Int) -> [Int]? { vector == 0 ? deliveryCPUs.withLock { $0 } : nil }

    /// Makes the simulated line report `cpus` as where its interrupt lands (`nil`: unknown).
    public func deliverInterrupts(toCPUs cpus: [Int]?) { deliveryCPUs.withLock { $0 = cpus } }

    /// Releases the device's handle: later uses throw `UIOError.Code.closed`.
    public func close() {
        let handle = resources.withLock { resources -> UIOHandle? in
            guard case .open(let handle) = resources else {
                resources = .closed
                return nil
            }
            return handle  // stays: its own uses throw closed from now on
        }
        handle?.close()
    }

    /// Starts the handle's removal watcher.
    public func watchForRemoval() throws(UIOError) { try handle().watchForRemoval() }

    /// Opens the device's interrupt line, as `UIOHandle.interruptLine(reArm:)` does.
    public func interruptLine(reArm: ReArmMethod? = nil) throws(UIOError) -> InterruptLine {
        try handle().interruptLine(reArm: reArm)
    }

    /// Opens the simulated PCI config space (only for `KernelDriver.uioPCIGeneric`).
    public func configSpace() throws(UIOError) -> ConfigSpace { try handle().configSpace() }

    /// Maps memory map `index`; every mapping of one index shares the same memory.
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion { try handle().mapRegion(index) }

    /// DMA memory from the simulated kernel's huge pages, at simulated physical addresses.
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        try handle().allocateDMAMemory(length: length, alignment: alignment, addressLimit: addressLimit)
    }

    /// Maps the PCI BAR `bar` through the parent's simulated `resourceN` (the memory of map `bar`).
    public func mapPCIResource(_ bar: Int) throws(UIOError) -> MappedRegion { try handle().mapPCIResource(bar) }
}

extension KernelDriver {
    /// A simulated driver that never masks: every raise is counted; irqcontrol writes are
    /// recorded. (uio_pdrv_genirq and uio_pci_generic are simulated as they mask.)
    public static let unmasked = KernelDriver(name: "simulated")

    /// The simulation's earlier name for uio_pdrv_genirq.
    @available(*, deprecated, renamed: "uioPdrvGenirq")
    public static var genirq: KernelDriver { .uioPdrvGenirq }

    /// The simulation's earlier name for uio_pci_generic.
    @available(*, deprecated, renamed: "uioPCIGeneric")
    public static var pciGeneric: KernelDriver { .uioPCIGeneric }
}
