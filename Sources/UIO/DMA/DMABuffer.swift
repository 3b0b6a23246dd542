import UIOPlatform

/// Memory a device reaches by DMA: resident while the buffer lives, with the address
/// the device is given for it.
///
/// Made by a backend (``HardwareResources/allocateDMAMemory(length:alignment:addressLimit:)``):
/// on UIO the device address is the physical one; on an IOMMU backend it is an I/O virtual
/// address. Accesses are bounds-checked and volatile, so the compiler never caches what the device
/// may have written; ``baseAddress`` is there for loops that need no checks. A register write
/// (``MappedRegion/write(_:at:)``) is preceded by a release fence, so what was written here before
/// reaches memory before the device is told to look; a register read is followed by an acquire
/// fence, so what is read here after it is what the device wrote before it.
public final class DMABuffer: @unchecked Sendable {
    // @unchecked: the pointer never changes and the memory stays mapped until deinit; the
    // contents are shared with a device, so accesses are volatile, as register accesses are.

    /// What the buffer is, for messages.
    public let name: String
    /// The buffer's first byte in this process.
    public let baseAddress: UnsafeMutableRawPointer
    /// The usable length in bytes.
    public let length: Int
    /// The address the device is given for the first byte.
    public let deviceAddress: UInt64
    /// What keeps the memory mapped (and, for IOMMU backends, mapped for the device): freed when
    /// the last buffer carved from it goes.
    private let memory: any AnyObject & Sendable

    /// A buffer of `length` bytes at `baseAddress`, reached by the device at `deviceAddress`,
    /// kept alive by `memory` (what a backend's allocation returns: the memory stays mapped, and
    /// reachable at `deviceAddress`, until `memory` is deallocated).
    public init(name: String, baseAddress: UnsafeMutableRawPointer, length: Int, deviceAddress: UInt64,
                 memory: any AnyObject & Sendable) {
        self.name = name
        self.baseAddress = baseAddress
        self.length = length
        self.deviceAddress = deviceAddress
        self.memory = memory
    }

    /// The device address of the byte at `offset`.
    public func deviceAddress(at offset: Int) throws(UIOError) -> UInt64 {
        try check(offset, count: 0)
        return deviceAddress + UInt64(offset)
    }

    /// Reads the `T` at `offset` bytes (volatile; naturally aligned).
    @inlinable @inline(__always)
    public func read<T: RegisterValue>(_ type: T.Type = T.self, at offset: Int) throws(UIOError) -> T {
        try check(offset, width: MemoryLayout<T>.size)
        return T.volatileLoad(from: baseAddress + offset)
    }

    /// Writes `value` at `offset` bytes (volatile; naturally aligned).
    @inlinable @inline(__always)
    public func write<T: RegisterValue>(_ value: T, at offset: Int) throws(UIOError) {
        try check(offset, width: MemoryLayout<T>.size)
        T.volatileStore(value, to: baseAddress + offset)
    }

    /// Copies `bytes` into the buffer at `offset`.
    public func copyBytes(_ bytes: some Collection<UInt8>, to offset: Int = 0) throws(UIOError) {
        try check(offset, count: bytes.count)
        let destination = UnsafeMutableRawBufferPointer(start: baseAddress + offset, count: bytes.count)
        destination.copyBytes(from: bytes)
    }

    /// The `count` bytes at `offset`.
    public func bytes(at offset: Int = 0, count: Int) throws(UIOError) -> [UInt8] {
        try check(offset, count: count)
        return Array(UnsafeRawBufferPointer(start: baseAddress + offset, count: count))
    }

    /// Runs `body` with the whole buffer, unchecked, for loops that must not pay a check per
    /// access. The pointer must not outlive the buffer.
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: baseAddress, count: length))
    }

    @inlinable @inline(__always)
    func check(_ offset: Int, count: Int) throws(UIOError) {
        guard offset >= 0, count >= 0, offset <= length &- count else { throw outOfBounds(offset, count: count) }
    }

    /// A typed access: in bounds and aligned to its own width.
    @inlinable @inline(__always)
    func check(_ offset: Int, width: Int) throws(UIOError) {
        try check(offset, count: width)
        guard (UInt(bitPattern: baseAddress) &+ UInt(bitPattern: offset)) & UInt(width &- 1) == 0 else { throw misaligned(offset, width: width) }
    }

    @usableFromInline @inline(never)
    func misaligned(_ offset: Int, width: Int) -> UIOError {
        UIOError(.misaligned, subject: name, reason: "a \(width * 8)-bit access at offset \(offset) is not \(width)-byte aligned")
    }

    @usableFromInline @inline(never)
    func outOfBounds(_ offset: Int, count: Int) -> UIOError {
        UIOError(.outOfBounds, subject: name, reason: "\(count) bytes at offset \(offset) reach past the buffer's \(length) bytes")
    }
}
