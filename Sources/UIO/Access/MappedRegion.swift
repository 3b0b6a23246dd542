import UIOPlatform
/// A device memory region mapped into this process: a UIO map or a PCI BAR.
///
/// Mirrors what the kernel's `uio_mmap` hands out. Every access is bounds- and
/// alignment-checked and throws instead of touching memory outside the region, or the region of a
/// device that is gone (``DeviceLiveness``). The mapping lives as long as the region object, so no
/// access can race an unmap.
public final class MappedRegion: @unchecked Sendable {
    // @unchecked: the pointers never change after init and the memory stays mapped until
    // deinit; concurrent volatile accesses are what device registers are for.

    /// What was mapped, for messages: `/dev/uio0 map0`.
    public let name: String
    /// The usable length in bytes.
    public let size: Int
    /// The first byte of the device's registers (the map's `offset` into its first page).
    @usableFromInline let base: UnsafeMutableRawPointer
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let system: SystemCalls
    /// Whether the device behind the region is still there.
    public let liveness: DeviceLiveness

    /// The device's mappings, which retire this one if the device goes.
    private let mappings: DeviceMappings
    /// What keeps the device claimed while its registers are mapped (a UIO claim, a VFIO device).
    private let owner: any AnyObject & Sendable

    /// Takes ownership of `mapping`, a mapping of a claimed device's registers `offset` bytes
    /// into it: guarded, and retired if the device goes.
    convenience init(name: String, mapping: UnsafeMutableRawPointer, mappingLength: Int, offset: Int, size: Int, system: SystemCalls,
                     claim: DeviceClaim) {
        self.init(name: name, mapping: mapping, mappingLength: mappingLength, offset: offset, size: size, system: system,
                  liveness: claim.liveness, mappings: claim.mappings, owner: claim)
    }

    /// Takes ownership of `mapping`, of a device whose presence `liveness` tells and whose live
    /// mappings are `mappings`; `owner` lives as long as the mapping.
    init(name: String, mapping: UnsafeMutableRawPointer, mappingLength: Int, offset: Int, size: Int, system: SystemCalls,
         liveness: DeviceLiveness, mappings: DeviceMappings, owner: any AnyObject & Sendable) {
        precondition(offset >= 0 && size >= 0 && offset + size <= mappingLength)
        self.name = name
        self.mapping = mapping
        self.mappingLength = mappingLength
        self.base = mapping + offset
        self.size = size
        self.system = system
        self.liveness = liveness
        self.mappings = mappings
        self.owner = owner
        mappings.add(mapping, length: mappingLength)
    }

    deinit {
        mappings.remove(mapping)
        _ = system.munmap(mapping, mappingLength)
    }

    /// Reads the register of type `T` at `offset` bytes.
    @inlinable @inline(__always)
    public func read<T: RegisterValue>(_ type: T.Type = T.self, at offset: Int) throws(UIOError) -> T {
        try check(offset, width: MemoryLayout<T>.size)
        return T.volatileLoad(from: base + offset)
    }

    /// Writes `value` to the register at `offset` bytes.
    @inlinable @inline(__always)
    public func write<T: RegisterValue>(_ value: T, at offset: Int) throws(UIOError) {
        try check(offset, width: MemoryLayout<T>.size)
        T.volatileStore(value, to: base + offset)
    }

    @inlinable @inline(__always)
    func check(_ offset: Int, width: Int) throws(UIOError) {
        guard offset >= 0, offset <= size &- width else { throw outOfBounds(offset, width: width) }
        // The address, not the offset: a map can start inside a page (`maps/mapK/offset`), and
        // a misaligned access to device memory faults on arm64.
        guard (UInt(bitPattern: base) &+ UInt(bitPattern: offset)) & UInt(width &- 1) == 0 else { throw misaligned(offset, width: width) }
        guard !liveness.isRemoved else { throw removed() }
    }

    @usableFromInline @inline(never)
    func outOfBounds(_ offset: Int, width: Int) -> UIOError {
        UIOError(.outOfBounds, subject: name,
                 reason: "a \(width * 8)-bit access at offset \(offset) reaches past the region's \(size) bytes")
    }

    @usableFromInline @inline(never)
    func removed() -> UIOError {
        UIOError(.deviceRemoved, subject: name, reason: "the device is gone; its registers are not touched",
                 advice: "the kernel unregistered it (unbind or hot-unplug); stop using it and rediscover")
    }

    @usableFromInline @inline(never)
    func misaligned(_ offset: Int, width: Int) -> UIOError {
        UIOError(.misaligned, subject: name,
                 reason: "a \(width * 8)-bit access at offset \(offset) reaches an address that is not \(width)-byte aligned (the region starts at 0x\(String(UInt(bitPattern: base), radix: 16)))")
    }
}
