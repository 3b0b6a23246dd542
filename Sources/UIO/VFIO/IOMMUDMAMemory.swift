import UIOPlatform

/// DMA memory for a VFIO device: ordinary pages, pinned and mapped by the IOMMU at I/O virtual
/// addresses the container chooses.
///
/// Every buffer is memory of its own (a `memfd` mapped shared, faulted in and `MADV_DONTFORK`,
/// so a `fork` never moves it from the device), mapped with `VFIO_IOMMU_MAP_DMA` at the lowest
/// free address that suits the device's address width. The kernel pins the pages, charging them
/// to the process's `RLIMIT_MEMLOCK`. The IOMMU makes scattered pages contiguous to the device, so
/// no huge pages are needed and a buffer may be longer than one. Freed: unmapped for the device
/// first, then in this process.
public final class IOMMUDMAMemory: Sendable {
    private let container: VFIOContainer
    private let name: String

    init(container: VFIOContainer, name: String) {
        self.container = container
        self.name = name
    }

    /// A buffer of `length` bytes whose device address is a multiple of `alignment` (a power of
    /// two) and whose last byte's device address is at most `addressLimit`.
    public func allocate(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        let system = container.descriptor.system
        let page = max(container.iommu?.smallestPage ?? 4096, pageSize)
        guard length > 0, length <= 1 << 46, alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 30 else {
            throw UIOError(.outOfBounds, subject: "DMA memory",
                           reason: "a buffer of \(length) bytes aligned to \(alignment): the length must be positive and the alignment a power of two no larger than 1 GiB")
        }
        let mapped = (length + page - 1) / page * page
        let memory = try IOMMUMapping(length: mapped, system: system)
        try memory.map(in: container, alignment: max(alignment, page), limit: addressLimit)
        return DMABuffer(name: "\(name) DMA buffer at IOVA 0x\(String(memory.iova, radix: 16))", baseAddress: memory.address,
                         length: length, deviceAddress: memory.iova, memory: memory)
    }
}

/// Memory mapped in this process and, once ``map(in:alignment:limit:)`` succeeded, for the device.
final class IOMMUMapping: @unchecked Sendable {
    // @unchecked: `iova` and `container` are set once, by `map`, before the mapping is shared.
    let address: UnsafeMutableRawPointer
    let length: Int
    private(set) var iova: UInt64 = 0
    private var container: VFIOContainer?
    private let system: SystemCalls

    init(length: Int, system: SystemCalls) throws(UIOError) {
        let subject = "DMA memory (\(length / 1024) KiB)"
        let fd = try system.createDMAFile(false).get(operation: .other, subject: subject)
        defer { _ = system.close(fd) }
        try system.resizeFile(fd, Int64(length)).get(operation: .other, subject: subject)
        let address = try system.mmap(fd, length, 0).get(operation: .map, subject: subject)
        if case .failure(let errno) = system.populateDMAMemory(address, length) {
            _ = system.munmap(address, length)
            throw UIOError(.dmaMemoryUnavailable, subject: subject, reason: "the kernel could not fault the memory in", errno: errno)
        }
        self.address = address
        self.length = length
        self.system = system
    }

    func map(in container: VFIOContainer, alignment: Int, limit: UInt64) throws(UIOError) {
        iova = try container.map(address, length: length, alignment: alignment, limit: limit)
        self.container = container
    }

    deinit {
        // Memory the device may still reach is never given back; once the container has no group
        // the kernel has unmapped and unpinned everything itself.
        if let container, !container.unmap(iova: iova, length: length), !container.isDetached { return }
        _ = system.munmap(address, length)
    }
}
