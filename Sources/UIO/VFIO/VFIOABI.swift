/// VFIO's ioctl requests and the byte layouts of their arguments (`<linux/vfio.h>`).
///
/// Every request is `_IO(';', 100 + n)`: the header leaves the size out of the number on purpose,
/// so the values are the same on every architecture. Structures are built as little-endian bytes
/// at fixed offsets rather than imported: the header's `_IO` macros do not import, and its
/// structures grew padding between kernel versions. The shortest `argsz` a kernel accepts is sent,
/// so older kernels answer too.
enum VFIORequest {
    private static func request(_ n: UInt) -> UInt { (0x3B << 8) | (100 + n) }

    static let getAPIVersion = request(0)
    static let checkExtension = request(1)
    static let setIOMMU = request(2)
    static let groupGetStatus = request(3)
    static let groupSetContainer = request(4)
    static let groupUnsetContainer = request(5)
    static let groupGetDeviceFD = request(6)
    static let deviceGetInfo = request(7)
    static let deviceGetRegionInfo = request(8)
    static let deviceGetIRQInfo = request(9)
    static let deviceSetIRQs = request(10)
    static let deviceReset = request(11)
    static let iommuGetInfo = request(12)
    static let iommuMapDMA = request(13)
    static let iommuUnmapDMA = request(14)
}

/// Constants of the VFIO API.
enum VFIOConstant {
    static let apiVersion: Int32 = 0
    /// IOMMU types (`VFIO_TYPE1v2_IOMMU`, `VFIO_NOIOMMU_IOMMU`).
    static let type1v2IOMMU: UInt = 3
    static let noIOMMU: UInt = 8

    /// `vfio_group_status.flags`.
    static let groupViable: UInt32 = 1 << 0

    /// `vfio_device_info.flags`.
    static let deviceResets: UInt32 = 1 << 0

    /// Region indexes of a PCI device: BARs 0–5, then the ROM, then config space.
    static let configRegionIndex: UInt32 = 7
    /// `vfio_region_info.flags`.
    static let regionReadable: UInt32 = 1 << 0
    static let regionWritable: UInt32 = 1 << 1
    static let regionMappable: UInt32 = 1 << 2

    /// `vfio_irq_info.flags`.
    static let irqEventfd: UInt32 = 1 << 0
    static let irqMaskable: UInt32 = 1 << 1
    static let irqAutomasked: UInt32 = 1 << 2
    static let irqNoResize: UInt32 = 1 << 3

    /// `vfio_irq_set.flags`: what the data is, then what to do.
    static let dataNone: UInt32 = 1 << 0
    static let dataEventfd: UInt32 = 1 << 2
    static let actionMask: UInt32 = 1 << 3
    static let actionUnmask: UInt32 = 1 << 4
    static let actionTrigger: UInt32 = 1 << 5

    /// `vfio_iommu_type1_info` capability ids.
    static let capabilityIOVARanges: UInt16 = 1
    static let capabilityDMAAvailable: UInt16 = 3

    /// `vfio_iommu_type1_dma_map.flags`.
    static let mapReadable: UInt32 = 1 << 0
    static let mapWritable: UInt32 = 1 << 1
}

/// The interrupt indexes of a PCI device (`VFIO_PCI_*_IRQ_INDEX`).
public enum VFIOInterruptIndex: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case intx = 0
    case msi = 1
    case msix = 2
    case error = 3
    case request = 4

    /// `intx`, `msi`, `msix`, as the kernel names the interrupts (`vfio-msix[3](0000:00:10.0)`).
    public var description: String {
        switch self {
        case .intx: "intx"
        case .msi: "msi"
        case .msix: "msix"
        case .error: "err"
        case .request: "req"
        }
    }
}

/// A little-endian argument buffer for one ioctl: fields at fixed offsets.
struct VFIOArgument {
    private(set) var bytes: [UInt8]

    /// `size` zero bytes, `argsz` (the first field of every VFIO structure) set to `size`.
    init(size: Int) {
        bytes = [UInt8](repeating: 0, count: size)
        set32(UInt32(size), at: 0)
    }

    mutating func set32(_ value: UInt32, at offset: Int) { store(value, at: offset) }
    mutating func set64(_ value: UInt64, at offset: Int) { store(value, at: offset) }
    mutating func setInt32(_ value: Int32, at offset: Int) { store(UInt32(bitPattern: value), at: offset) }

    func get16(at offset: Int) -> UInt16 { load(at: offset) }
    func get32(at offset: Int) -> UInt32 { load(at: offset) }
    func get64(at offset: Int) -> UInt64 { load(at: offset) }

    /// Runs `body` on the buffer's bytes (what the ioctl gets).
    mutating func withPointer<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        bytes.withUnsafeMutableBytes { body($0.baseAddress!) }
    }

    private mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count)
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { bytes[offset + index] = byte }
        }
    }

    private func load<T: FixedWidthInteger>(at offset: Int) -> T {
        guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else { return 0 }
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
        return value
    }
}

/// `struct vfio_region_info` (32 bytes): one region's size, offset in the device file and flags.
struct VFIORegionInfo: Sendable, Hashable {
    static let size = 32
    let index: UInt32
    let flags: UInt32
    let length: UInt64
    let offset: UInt64

    static func request(index: UInt32) -> VFIOArgument {
        var argument = VFIOArgument(size: size)
        argument.set32(index, at: 8)
        return argument
    }

    init(_ argument: VFIOArgument) {
        flags = argument.get32(at: 4)
        index = argument.get32(at: 8)
        length = argument.get64(at: 16)
        offset = argument.get64(at: 24)
    }

    var isReadable: Bool { flags & VFIOConstant.regionReadable != 0 }
    var isWritable: Bool { flags & VFIOConstant.regionWritable != 0 }
    var isMappable: Bool { flags & VFIOConstant.regionMappable != 0 }
}

/// `struct vfio_irq_info` (16 bytes): how many vectors an interrupt index has, and its flags.
struct VFIOIRQInfo: Sendable, Hashable {
    static let size = 16
    let index: UInt32
    let flags: UInt32
    let count: UInt32

    static func request(index: VFIOInterruptIndex) -> VFIOArgument {
        var argument = VFIOArgument(size: size)
        argument.set32(index.rawValue, at: 8)
        return argument
    }

    init(_ argument: VFIOArgument) {
        flags = argument.get32(at: 4)
        index = argument.get32(at: 8)
        count = argument.get32(at: 12)
    }

    init(index: UInt32, flags: UInt32, count: UInt32) {
        self.index = index
        self.flags = flags
        self.count = count
    }

    var isMaskable: Bool { flags & VFIOConstant.irqMaskable != 0 }
}

/// `struct vfio_irq_set` (20 bytes, then the data): what `VFIO_DEVICE_SET_IRQS` is asked.
enum VFIOIRQSet {
    /// Vectors `start…` of `index` signal `fds` (−1: none), or with no fds, `flags` alone.
    static func argument(flags: UInt32, index: VFIOInterruptIndex, start: UInt32, count: UInt32, fds: [Int32] = []) -> VFIOArgument {
        var argument = VFIOArgument(size: 20 + 4 * fds.count)
        argument.set32(flags, at: 4)
        argument.set32(index.rawValue, at: 8)
        argument.set32(start, at: 12)
        argument.set32(count, at: 16)
        for (offset, fd) in fds.enumerated() { argument.setInt32(fd, at: 20 + 4 * offset) }
        return argument
    }
}

/// `struct vfio_iommu_type1_info` with its capability chain: the IOMMU's page sizes, the IOVA
/// ranges a device may be given, and how many more mappings the container takes.
struct VFIOIOMMUInfo: Sendable, Hashable {
    /// Room for the capabilities: the kernel says how much it needed when this is too little.
    static let size = 4096
    /// Page sizes the IOMMU maps (a bit per size).
    let pageSizes: UInt64
    /// Usable IOVA ranges, inclusive ends, ascending.
    let ranges: [ClosedRange<UInt64>]
    /// How many more mappings the container takes (`dma_avail`), when the kernel says.
    let mappingsAvailable: UInt32?

    init(_ argument: VFIOArgument) {
        pageSizes = argument.get64(at: 8)
        var ranges: [ClosedRange<UInt64>] = []
        var available: UInt32?
        var next = Int(argument.get32(at: 16))
        var seen: Set<Int> = []
        // Each header: id, version, then the next one's offset from the buffer's start (0 ends;
        // a chain that comes back to a header it passed ends there too).
        while next >= 24, next + 8 <= argument.bytes.count, seen.insert(next).inserted {
            let id = argument.get16(at: next)
            if id == VFIOConstant.capabilityIOVARanges {
                let count = Int(argument.get32(at: next + 8))
                for index in 0..<min(count, 256) {
                    let entry = next + 16 + 16 * index
                    guard entry + 16 <= argument.bytes.count else { break }
                    let start = argument.get64(at: entry)
                    let end = argument.get64(at: entry + 8)
                    if start <= end { ranges.append(start...end) }
                }
            } else if id == VFIOConstant.capabilityDMAAvailable {
                available = argument.get32(at: next + 8)
            }
            next = Int(argument.get32(at: next + 4))
        }
        self.ranges = ranges.sorted { $0.lowerBound < $1.lowerBound }
        self.mappingsAvailable = available
    }

    /// The smallest page the IOMMU maps; 4 KiB when it does not say.
    var smallestPage: Int {
        pageSizes == 0 ? 4096 : 1 << pageSizes.trailingZeroBitCount
    }
}

/// `struct vfio_iommu_type1_dma_map` (32 bytes) and `…_dma_unmap` (24 bytes).
enum VFIODMAMapping {
    static func map(virtualAddress: UInt64, iova: UInt64, length: UInt64) -> VFIOArgument {
        var argument = VFIOArgument(size: 32)
        argument.set32(VFIOConstant.mapReadable | VFIOConstant.mapWritable, at: 4)
        argument.set64(virtualAddress, at: 8)
        argument.set64(iova, at: 16)
        argument.set64(length, at: 24)
        return argument
    }

    static func unmap(iova: UInt64, length: UInt64) -> VFIOArgument {
        var argument = VFIOArgument(size: 24)
        argument.set64(iova, at: 8)
        argument.set64(length, at: 16)
        return argument
    }

    /// The bytes an unmap says it unmapped.
    static func unmapped(_ argument: VFIOArgument) -> UInt64 { argument.get64(at: 16) }
}
