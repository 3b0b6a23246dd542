import UIOPlatform
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An open PCI device on vfio-pci: its device file, got from its IOMMU group, which is attached
/// to a container with the IOMMU.
///
/// From a handle come the device's BARs and config space (regions of the device file), its
/// interrupt vectors (one eventfd each: MSI-X, MSI or INTx, ``VFIOInterruptMode``), DMA memory the
/// IOMMU maps for it (``IOMMUDMAMemory``), and its reset. The kernel allows one process per group
/// and this process one handle per device. ``close()`` is idempotent and also runs on deinit;
/// the kernel releases the device (interrupts off, Bus Master off, a reset where it can) when the
/// handle is closed and the last region made from it is gone.
public final class VFIOHandle: HardwareResources {
    /// The device as sysfs described it when it was opened.
    public let pciDevice: PCIDevice
    public let parent: ParentDevice?
    public let name: String
    public let liveness = DeviceLiveness()
    /// The mode the interrupt objects use, chosen at open.
    public let interruptMode: VFIOInterruptIndex?
    private let group: VFIOGroup
    private let descriptor: SharedDescriptor
    private let flags: UInt32
    private let regionCount: Int
    private let interrupts: VFIOInterrupts
    private let mappings = DeviceMappings()
    private let dmaMemory: IOMMUDMAMemory?
    private let system: SystemCalls
    /// Hears the kernel ask for the device back; `nil` on a kernel without the REQ interrupt.
    private let requestWatcher: VFIORequestWatcher?
    /// The config spaces made, each on a copy of the device's fd: closed with the device, since
    /// the kernel releases the device only once every copy is closed.
    private let configSpaces = Locked<[WeakConfigSpace]>([])
    private let closing = Atomic<Bool>(false)

    private struct WeakConfigSpace: @unchecked Sendable {
        // @unchecked: written once, at init; a weak load is safe from any thread.
        weak var configSpace: ConfigSpace?
    }

    /// Opens `device`, which must be on vfio-pci, using `interrupts` for its interrupt objects.
    public convenience init(_ device: PCIDevice, interrupts: VFIOInterruptMode = .automatic) throws(UIOError) {
        try self.init(device, interrupts: interrupts, system: .live)
    }

    init(_ device: PCIDevice, interrupts mode: VFIOInterruptMode, system: SystemCalls) throws(UIOError) {
        let name = "vfio \(device.slot)"
        guard device.driver == PCIBinding.vfioDriver else {
            throw UIOError(.deviceNotFound, subject: device.slot,
                           reason: "is on \(device.driver.map { "the \($0) driver" } ?? "no driver"), not vfio-pci",
                           advice: "bind it to vfio-pci first: uioctl bind --driver vfio-pci \(device.slot)")
        }
        guard let groupNumber = device.iommuGroup else {
            throw UIOError(.notSupported, subject: device.slot, reason: "belongs to no IOMMU group: the system has no IOMMU enabled",
                           advice: "boot with the IOMMU on (intel_iommu=on; AMD's is on unless amd_iommu=off), and iommu=pt to keep other devices fast")
        }
        let group = try VFIOGroup.opened(groupNumber, system: system)
        let fd = try group.openDevice(device.slot)
        let descriptor = SharedDescriptor(fd: fd, path: name, system: system)
        var info = VFIOArgument(size: 16)
        if case .failure(let errno) = info.withPointer({ system.ioctl(fd, VFIORequest.deviceGetInfo, $0) }) {
            descriptor.close()
            group.release(device.slot)
            throw UIOError(.systemCall, subject: name, reason: "VFIO_DEVICE_GET_INFO failed", errno: errno)
        }
        let irqCount = Int(info.get32(at: 12))
        var infos: [VFIOInterruptIndex: VFIOIRQInfo] = [:]
        for index in [VFIOInterruptIndex.intx, .msi, .msix] where Int(index.rawValue) < irqCount {
            var argument = VFIOIRQInfo.request(index: index)
            if case .success = argument.withPointer({ system.ioctl(fd, VFIORequest.deviceGetIRQInfo, $0) }) {
                infos[index] = VFIOIRQInfo(argument)
            }
        }
        self.pciDevice = device
        self.name = name
        self.group = group
        self.descriptor = descriptor
        self.flags = info.get32(at: 4)
        self.regionCount = Int(info.get32(at: 8))
        self.interrupts = VFIOInterrupts(device: descriptor, name: name, infos: infos, mode: mode,
                                         msiMasksPerVector: Self.msiMasksPerVector(fd, system: system))
        self.interruptMode = interrupts.index
        self.system = system
        self.dmaMemory = group.container.translates ? IOMMUDMAMemory(container: group.container, name: name) : nil
        let irq = (try? SysfsFile.read(device.sysPath + "/irq", system: system)).flatMap { SysfsValue.decimal($0, as: Int.self) }
        self.parent = ParentDevice(subsystem: "pci", sysName: device.slot, sysPath: device.sysPath, driver: device.driver,
                                   irq: irq == 0 ? nil : irq, pci: device.identity)
        if Int(VFIOInterruptIndex.request.rawValue) < irqCount {
            do throws(UIOError) {
                requestWatcher = try VFIORequestWatcher(interrupts: interrupts, threadName: "v\(device.slot.dropFirst(5))-req", liveness: liveness)
            } catch {
                descriptor.close()
                group.release(device.slot)
                throw error
            }
        } else {
            requestWatcher = nil
        }
        // The kernel waits for every file on the device to close before it lets it go: once it
        // asks, the mappings are retired and the files closed, whatever the driver does next.
        liveness.whenRemoved { [weak self, mappings] in
            mappings.retireAll()
            self?.close()
        }
    }

    deinit { close() }

    /// `v` and the slot without its domain: `v00:10.0` (thread names keep 15 characters).
    public var threadPrefix: String { "v" + pciDevice.slot.dropFirst(5) }

    /// vfio-pci requests INTx shared where the device can mask it (PCI 2.3, as nearly every device
    /// can); messages are the device's own.
    public var alwaysSharesInterrupts: Bool { interruptMode == .intx }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { closing.load(ordering: .acquiring) }

    /// Ends this handle's use of the device: its interrupts off, its config spaces and file
    /// closed. The kernel releases the device (Bus Master off, a reset where it can) once the last
    /// region mapped from it is gone too. Closing twice is harmless.
    public func close() {
        // Once: the driver's stop and the kernel's removal request may close it at once.
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        requestWatcher?.stop()
        interrupts.disableIndex()
        let made = configSpaces.withLock { spaces in
            defer { spaces.removeAll() }
            return spaces.compactMap(\.configSpace)
        }
        for configSpace in made { configSpace.close() }
        descriptor.close()
        group.release(pciDevice.slot)
    }

    // MARK: Regions

    /// Maps BAR `index` (0–5): the whole BAR, where vfio-pci allows it to be mapped.
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion {
        guard (0...5).contains(index), index < regionCount else {
            throw UIOError(.noSuchRegion, subject: name, reason: "BAR \(index) does not exist; PCI has BARs 0 to 5")
        }
        let region = try regionInfo(UInt32(index))
        guard region.length > 0 else { throw UIOError(.noSuchRegion, subject: name, reason: "BAR \(index) is not implemented by this device") }
        guard region.isMappable, region.length <= UInt64(Int.max / 2) else {
            throw UIOError(.noSuchRegion, subject: name,
                           reason: "BAR \(index) cannot be mapped (vfio-pci maps memory BARs only)",
                           advice: "reach it through the device file: fileRegion(\(index))")
        }
        let length = (Int(region.length) + pageSize - 1) / pageSize * pageSize
        let address = try descriptor.withDescriptor { fd throws(UIOError) in
            try system.mmap(fd, length, Int64(bitPattern: region.offset)).get(operation: .map, subject: "\(name) BAR \(index)")
        }
        return MappedRegion(name: "\(name) BAR \(index)", mapping: address, mappingLength: length, offset: 0, size: Int(region.length),
                            system: system, liveness: liveness, mappings: mappings, owner: self)
    }

    /// BAR `index` (0–5) through the device file, one `pread` or `pwrite` per access: for an
    /// I/O-port BAR, or one vfio-pci will not map (``mapRegion(_:)`` is the fast way where it can).
    public func fileRegion(_ index: Int) throws(UIOError) -> VFIOFileRegion {
        guard (0...5).contains(index), index < regionCount else {
            throw UIOError(.noSuchRegion, subject: name, reason: "BAR \(index) does not exist; PCI has BARs 0 to 5")
        }
        let region = try regionInfo(UInt32(index))
        guard region.length > 0, region.isReadable else {
            throw UIOError(.noSuchRegion, subject: name, reason: "BAR \(index) is not implemented by this device")
        }
        return VFIOFileRegion(name: "\(name) BAR \(index)", size: Int(min(region.length, UInt64(Int.max / 2))),
                              base: Int64(bitPattern: region.offset), writable: region.isWritable, descriptor: descriptor, liveness: liveness)
    }

    /// The config space: the device file's config region (a second fd on it, closed with the
    /// returned object, or with the handle).
    public func configSpace() throws(UIOError) -> ConfigSpace {
        let region = try regionInfo(VFIOConstant.configRegionIndex)
        let copy = try descriptor.withDescriptor { fd throws(UIOError) in
            try system.duplicate(fd).get(operation: .other, subject: name)
        }
        let configSpace = ConfigSpace(descriptor: copy, base: Int64(bitPattern: region.offset), size: Int(min(region.length, 4096)),
                                      writable: region.isWritable, name: "\(name) config", slot: pciDevice.slot, system: system)
        configSpaces.withLock { spaces in
            spaces.removeAll { $0.configSpace == nil }
            spaces.append(WeakConfigSpace(configSpace: configSpace))
        }
        return configSpace
    }

    /// Whether the device's MSI capability has per-vector mask bits (Message Control bit 8), so
    /// the kernel can mask a vector it frees; read through the config region.
    private static func msiMasksPerVector(_ fd: Int32, system: SystemCalls) -> Bool {
        var argument = VFIORegionInfo.request(index: VFIOConstant.configRegionIndex)
        guard case .success = argument.withPointer({ system.ioctl(fd, VFIORequest.deviceGetRegionInfo, $0) }) else { return false }
        let base = Int64(bitPattern: VFIORegionInfo(argument).offset)
        func byte(_ offset: Int) -> UInt8? {
            var value: UInt8 = 0
            let read = withUnsafeMutableBytes(of: &value) { system.pread(fd, $0, base + Int64(offset)) }
            return (try? read.get()) == 1 ? value : nil
        }
        // The capability list: status bit 4 says there is one; a pointer at 0x34; at most 48 hops.
        guard let status = byte(0x06), status & 0x10 != 0, var next = byte(0x34) else { return false }
        for _ in 0..<48 where next >= 0x40 {
            guard let id = byte(Int(next)), let following = byte(Int(next) + 1) else { return false }
            if id == 0x05 { return (byte(Int(next) + 3) ?? 0) & 0x01 != 0 }  // Message Control's high byte, bit 8
            next = following & 0xFC
        }
        return false
    }

    private func regionInfo(_ index: UInt32) throws(UIOError) -> VFIORegionInfo {
        var argument = VFIORegionInfo.request(index: index)
        let result = try descriptor.withDescriptor { fd throws(UIOError) in
            argument.withPointer { system.ioctl(fd, VFIORequest.deviceGetRegionInfo, $0) }
        }
        if case .failure(let errno) = result {
            throw UIOError(errno == .invalidArgument ? .noSuchRegion : .systemCall, subject: name,
                           reason: "VFIO_DEVICE_GET_REGION_INFO for region \(index) failed", errno: errno)
        }
        return VFIORegionInfo(argument)
    }

    // MARK: Interrupts

    /// The vectors of the index in use: MSI-X's table size, MSI's count, or INTx's one.
    public var interruptVectorCount: Int { interrupts.count }

    /// Vector `vector`'s eventfd, attached to it.
    public func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource {
        guard !descriptor.isClosed else { throw UIOError.closed(name) }
        return try VFIOInterruptSource(vector: vector, interrupts: interrupts, liveness: liveness, owner: self)
    }

    /// A message (MSI, MSI-X) or vfio-pci's INTx line, with what `/proc/interrupts` says of it
    /// while it is attached.
    public func interruptDescription(vector: Int) -> InterruptDescription {
        let kernel = interrupts.kernelName(vector: vector, slot: pciDevice.slot).flatMap { KernelIRQ.read(handledBy: $0, system: system) }
        if interruptMode == .intx { return InterruptDescription(line: parent?.irq, sharedPCIINTx: true, kernel: kernel) }
        return InterruptDescription(message: UInt32(vector), kernel: kernel)
    }

    public func interruptDeliveryCPUs(vector: Int) -> [Int]? {
        guard let cpus = interruptDescription(vector: vector).kernel?.deliveryCPUs, !cpus.isEmpty else { return nil }
        return cpus
    }

    /// An MSI is a memory write: without Bus Master the device sends none (vfio-pci leaves it off).
    public var interruptsNeedBusMastering: Bool { interruptMode == .msi || interruptMode == .msix }

    // MARK: DMA and reset

    /// Memory the IOMMU maps for the device (``IOMMUDMAMemory``); in no-IOMMU mode, huge pages at
    /// their physical addresses, as on UIO.
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        guard !descriptor.isClosed else { throw UIOError.closed(name) }
        guard let dmaMemory else {
            return try HugePageDMAMemory.shared.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
        }
        return try dmaMemory.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
    }

    /// Whether the kernel can reset the device (a function-level reset, a power-management reset
    /// or a bus reset it alone is on).
    public var canReset: Bool { flags & VFIOConstant.deviceResets != 0 }

    /// Resets the device (`VFIO_DEVICE_RESET`); ``UIOError/Code/notSupported`` where it cannot be.
    public func reset() throws(UIOError) {
        guard canReset else {
            throw UIOError(.notSupported, subject: name, reason: "the kernel knows no way to reset this device alone (no FLR, PM reset or exclusive bus reset)")
        }
        let result = try descriptor.withDescriptor { fd throws(UIOError) in system.ioctlValue(fd, VFIORequest.deviceReset, 0) }
        if case .failure(let errno) = result {
            throw UIOError(.systemCall, subject: name, reason: "VFIO_DEVICE_RESET failed", errno: errno)
        }
    }
}

extension PCIDevice {
    /// Opens the device through VFIO (it must be on vfio-pci), its interrupt objects using
    /// `interrupts`.
    public func openVFIO(interrupts: VFIOInterruptMode = .automatic) throws(UIOError) -> VFIOHandle {
        try VFIOHandle(self, interrupts: interrupts)
    }
}
