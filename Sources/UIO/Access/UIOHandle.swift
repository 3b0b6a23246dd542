import CUIOShim

#if canImport(Glibc)
import Glibc
#endif

/// An open, claimed UIO device: `/dev/uioN` opened read-write under an exclusive `flock`.
///
/// The claim is the convention DPDK and other userspace drivers keep: one driver per device.
/// From a handle come the device's memory maps, its PCI BARs and config space, and its
/// interrupt line. ``close()`` releases the claim; it is idempotent and also runs on deinit.
/// Regions and lines made from the handle stay valid after it closes.
public final class UIOHandle: Sendable {
    /// The device as discovery described it.
    public let device: UIODevice
    private let descriptor: SharedDescriptor
    let system: SystemCalls

    /// Opens `device`; with `exclusive`, also claims it (fails if another open file holds it).
    @_spi(Simulation)
    public init(device: UIODevice, exclusive: Bool, system: SystemCalls) throws(UIOError) {
        let path = device.devicePath
        let fd: Int32
        switch system.open(path, O_RDWR) {
        case .success(let opened):
            fd = opened
        case .failure(let errno) where errno == .noSuchFileOrDirectory || errno == .operationNotSupportedByDevice || errno == .noSuchAddressOrDevice:
            throw UIOError(.deviceRemoved, subject: path, reason: "the device node is gone since the device was discovered", errno: errno,
                           advice: "the device was unbound or unplugged; discover it again")
        case .failure(let errno):
            throw UIOError.system(errno, operation: "open", subject: path)
        }
        let descriptor = SharedDescriptor(fd: fd, path: path, system: system)
        if exclusive {
            switch retryingOnInterrupt({ system.flock(fd, LOCK_EX | LOCK_NB) }) {
            case .success:
                break
            case .failure(let errno) where errno == .wouldBlock:
                throw UIOError(.deviceBusy, subject: path, reason: "another process has claimed this device", errno: errno,
                               advice: "stop the other driver (`fuser -v \(path)` names it), or open without claiming to only watch")
            case .failure(let errno):
                throw UIOError.system(errno, operation: "flock", subject: path)
            }
        }
        self.device = device
        self.descriptor = descriptor
        self.system = system
        self.exclusive = exclusive
    }

    /// Whether the handle holds the claim.
    private let exclusive: Bool

    /// Whether the device is still there; shared with the regions and lines made from the handle.
    public let liveness = DeviceLiveness()

    /// Releases the claim and the fd. Closing twice is harmless.
    ///
    /// The claim is released explicitly: a mapped region keeps the open file alive (and with it
    /// an `flock`) for as long as the mapping lives.
    public func close() {
        if exclusive { _ = try? descriptor.withDescriptor { fd in system.flock(fd, LOCK_UN) } }
        descriptor.close()
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { descriptor.isClosed }

    /// Maps memory map `index` (`maps/mapK`): `mmap` at offset `index × page size`, then the
    /// map's `offset` into the first page.
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion {
        guard let map = device.maps.first(where: { $0.index == index }) else {
            throw UIOError(.noSuchRegion, subject: device.devicePath,
                           reason: "has no map \(index); it has \(device.maps.count) map(s)",
                           advice: device.maps.isEmpty ? "this driver exports no memory maps" : "use an index below \(device.maps.count)")
        }
        let page = Int(cuio_page_size())
        guard map.offset < UInt64(page), map.size <= UInt64(Int.max / 2) else {
            throw UIOError.malformed(device.sysPath + "/maps/map\(index)", value: "offset 0x\(String(map.offset, radix: 16)), size 0x\(String(map.size, radix: 16))",
                                     expected: "an offset inside one page and a mappable size")
        }
        let offset = Int(map.offset)
        let size = Int(map.size)
        let length = (offset + size + page - 1) / page * page
        let address = try descriptor.withDescriptor { fd throws(UIOError) in
            try system.mmap(fd, length, Int64(index * page)).get(operation: "mmap map\(index)", subject: device.devicePath)
        }
        return MappedRegion(name: "\(device.devicePath) map\(index)", mapping: address, mappingLength: length,
                            offset: offset, size: size, system: system, liveness: liveness)
    }

    /// Maps PCI BAR `bar` through the parent's `resourceN` file (all of the BAR, even the parts
    /// the UIO driver did not export as a map).
    public func mapPCIResource(_ bar: Int) throws(UIOError) -> MappedRegion {
        let parent = try pciParent()
        guard (0...5).contains(bar) else {
            throw UIOError(.noSuchRegion, subject: parent.sysPath, reason: "BAR \(bar) does not exist; PCI has BARs 0 to 5")
        }
        try requireOpen()
        let path = parent.sysPath + "/resource\(bar)"
        let fd: Int32
        switch system.open(path, O_RDWR | O_SYNC) {
        case .success(let opened): fd = opened
        case .failure(.noSuchFileOrDirectory):
            throw UIOError(.noSuchRegion, subject: path, reason: "BAR \(bar) is not implemented by this device",
                           errno: .noSuchFileOrDirectory)
        case .failure(let errno): throw UIOError.system(errno, operation: "open", subject: path)
        }
        defer { _ = system.close(fd) }
        let size = try system.fileSize(fd).get(operation: "fstat", subject: path)
        guard size > 0 else { throw UIOError(.noSuchRegion, subject: path, reason: "BAR \(bar) is empty") }
        // mmap of an I/O-port BAR fails with EINVAL: only memory BARs map.
        let address = try system.mmap(fd, Int(size), 0).get(operation: "mmap", subject: path)
        return MappedRegion(name: path, mapping: address, mappingLength: Int(size), offset: 0, size: Int(size), system: system,
                            liveness: liveness)
    }

    /// Opens the PCI parent's configuration space.
    public func configSpace() throws(UIOError) -> ConfigSpace {
        try requireOpen()
        return try ConfigSpace(path: try pciParent().sysPath + "/config", system: system)
    }

    /// Opens the device's interrupt line, with the re-arm method its kernel driver needs
    /// unless `reArm` names one.
    public func interruptLine(reArm: ReArmMethod? = nil) throws(UIOError) -> InterruptLine {
        try requireOpen()
        return try InterruptLine(device: device, reArm: reArm, system: system, liveness: liveness)
    }

    private func requireOpen() throws(UIOError) {
        if descriptor.isClosed { throw UIOError.closed(device.devicePath) }
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
    public func open(exclusive: Bool = true) throws(UIOError) -> UIOHandle {
        try UIOHandle(device: self, exclusive: exclusive, system: .live)
    }
}
