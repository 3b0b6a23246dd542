import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// An open, claimed UIO device: `/dev/uioN` opened read-write under an exclusive claim.
///
/// The claim is the convention DPDK and other userspace drivers keep: one driver per device.
/// It is taken before the node is opened, and the node is checked to be the device discovery
/// found (see `DeviceClaim`). From a handle come the device's memory maps, its PCI BARs and config
/// space, and its interrupt line. ``close()`` is idempotent and also runs on deinit; the claim
/// and the files on the node last until the handle is closed and the last region and line made
/// from it are gone, so no other driver can claim a device whose registers are still mapped here.
public final class UIOHandle: Sendable {
    /// The device as discovery described it.
    public let device: UIODevice
    private let descriptor: SharedDescriptor
    /// Held until ``close()``; regions and lines hold it too.
    private let claim: Locked<DeviceClaim?>
    let system: SystemCalls

    /// Opens `device`; with `exclusive`, also claims it (fails if another handle holds it).
    package init(device: UIODevice, exclusive: Bool, system: SystemCalls) throws(UIOError) {
        let claim = try DeviceClaim(device: device, exclusive: exclusive, system: system)
        let fd = try claim.openNode()
        self.device = device
        self.descriptor = SharedDescriptor(fd: fd, path: device.devicePath, system: system)
        self.claim = Locked(claim)
        self.system = system
        self.liveness = claim.liveness
        self.dmaMemory = HugePageDMAMemory(system: system)
    }

    /// Where the device's DMA buffers are carved from: huge pages of its own.
    let dmaMemory: HugePageDMAMemory

    /// Whether the device is still there; shared with the regions and lines made from the handle.
    /// A removal is noticed by the interrupt line, or else by the handle's own watcher.
    public let liveness: DeviceLiveness

    /// Ends this handle's use of the device. Closing twice is harmless.
    ///
    /// The claim, and with it the device's files, ends when the last region and interrupt
    /// line made from the handle are gone too: uio_pci_generic clears Bus Master when the last
    /// file on the device closes, and an unclaimed mapped device could be claimed and driven by
    /// a second driver.
    public func close() {
        descriptor.close()
        claim.withLock { $0 = nil }
    }

    /// Starts watching for the device's removal on a thread of the handle's own, for a driver
    /// that has no interrupt line open (a line notices removal itself). Once the kernel
    /// unregisters the device, ``liveness`` is marked and the mappings read all-ones. Idempotent.
    ///
    /// The UIO core wakes every waiter at each interrupt, so the watcher costs a thread wake-up
    /// per interrupt: with an interrupt line open, it is not needed.
    public func watchForRemoval() throws(UIOError) { try requireClaim().watchForRemoval() }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { descriptor.isClosed }

    /// Maps memory map `index` (`maps/mapK`): `mmap` at offset `index × page size`.
    ///
    /// The kernel's contract (uio.c, `uio_mmap_physical`): the mapping may not be longer than the
    /// map's `size`, and the registers start `offset` bytes into it. uio_pci_generic and
    /// uio_pdrv_genirq report `size` = PAGE_ALIGN(`offset` + length), so the region is
    /// `size − offset` bytes.
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion {
        guard let map = device.maps.first(where: { $0.index == index }) else {
            throw UIOError(.noSuchRegion, subject: device.devicePath,
                           reason: "has no map \(index); it has \(device.maps.count) map(s)",
                           advice: device.maps.isEmpty ? "this driver exports no memory maps" : "use an index below \(device.maps.count)")
        }
        let claim = try requireClaim()
        let page = UInt64(pageSize)
        guard map.offset < page, map.offset < map.size, map.size <= UInt64(Int.max / 2) else {
            throw UIOError.malformed(device.sysPath + "/maps/map\(index)", value: "offset 0x\(String(map.offset, radix: 16)), size 0x\(String(map.size, radix: 16))",
                                     expected: "an offset inside the first page and a size past it")
        }
        let length = Int((map.size + page - 1) / page * page)
        let address = try descriptor.withDescriptor { fd throws(UIOError) in
            try system.mmap(fd, length, Int64(index) * Int64(page)).get(operation: .map, subject: device.devicePath)
        }
        return MappedRegion(name: "\(device.devicePath) map\(index)", mapping: address, mappingLength: length,
                            offset: Int(map.offset), size: Int(map.size - map.offset), system: system, claim: claim)
    }

    /// Maps PCI BAR `bar` through the parent's `resourceN` file (all of the BAR, even the parts
    /// the UIO driver did not export as a map).
    public func mapPCIResource(_ bar: Int) throws(UIOError) -> MappedRegion {
        let parent = try pciParent()
        guard (0...5).contains(bar) else {
            throw UIOError(.noSuchRegion, subject: parent.sysPath, reason: "BAR \(bar) does not exist; PCI has BARs 0 to 5")
        }
        let claim = try requireClaim()
        let path = parent.sysPath + "/resource\(bar)"
        let fd: Int32
        switch system.open(path, O_RDWR | O_SYNC) {
        case .success(let opened): fd = opened
        case .failure(.noSuchFileOrDirectory):
            throw UIOError(.noSuchRegion, subject: path, reason: "BAR \(bar) is not implemented by this device",
                           errno: .noSuchFileOrDirectory)
        case .failure(let errno): throw UIOError.system(errno, operation: .accessFile, subject: path)
        }
        defer { _ = system.close(fd) }
        let size = try system.fileSize(fd).get(operation: .status, subject: path)
        guard size > 0 else { throw UIOError(.noSuchRegion, subject: path, reason: "BAR \(bar) is empty") }
        // mmap of an I/O-port BAR fails with EINVAL: only memory BARs map.
        let address = try system.mmap(fd, Int(size), 0).get(operation: .map, subject: path)
        return MappedRegion(name: path, mapping: address, mappingLength: Int(size), offset: 0, size: Int(size), system: system,
                            claim: claim)
    }

    /// Opens the PCI parent's configuration space.
    public func configSpace() throws(UIOError) -> ConfigSpace {
        try requireOpen()
        return try ConfigSpace(path: try pciParent().sysPath + "/config", system: system)
    }

    /// Opens the device's interrupt line, with the re-arm method its kernel driver needs
    /// unless `reArm` names one.
    public func interruptLine(reArm: ReArmMethod? = nil) throws(UIOError) -> InterruptLine {
        try InterruptLine(claim: try requireClaim(), reArm: reArm, liveness: liveness)
    }

    private func requireOpen() throws(UIOError) {
        if descriptor.isClosed { throw UIOError.closed(device.devicePath) }
    }

    private func requireClaim() throws(UIOError) -> DeviceClaim {
        guard let claim = claim.withLock({ $0 }) else { throw UIOError.closed(device.devicePath) }
        return claim
    }

    private func pciParent() throws(UIOError) -> ParentDevice {
        guard let parent = device.parent, parent.pci != nil else {
            throw UIOError(.notPCIDevice, subject: device.devicePath,
                           reason: "its parent is \(device.parent.map { "a \($0.subsystem) device" } ?? "unknown"), not PCI")
        }
        return parent
    }
}

extension UIODevice {
    /// Opens the device for this process. With `exclusive` (the default) it also claims it, so
    /// a second driver fails with ``UIOError/Code/deviceBusy``; without, it only watches.
    ///
    /// A handle without the claim still opens the node, and under uio_pci_generic the last
    /// close of the node clears Bus Master, beside a driver that may rely on it: to follow a
    /// driven device's interrupts, read ``UIODevice/currentEventCount()`` instead.
    public func open(exclusive: Bool = true) throws(UIOError) -> UIOHandle {
        try UIOHandle(device: self, exclusive: exclusive, system: .live)
    }
}
