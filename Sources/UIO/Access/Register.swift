/// One device register at a fixed offset of a ``MappedRegion``, checked once when it is made.
///
/// ``MappedRegion/read(_:at:)`` checks bounds and alignment on every access; a `Register` does it
/// at ``MappedRegion/register(_:at:)`` and then reads and writes with a bare volatile access, as
/// C would. It keeps its region, and so the mapping, alive.
public struct Register<Value: RegisterValue>: @unchecked Sendable {
    // @unchecked: `address` points into `region`'s mapping, which lives as long as the region.
    /// The region the register lives in.
    public let region: MappedRegion
    /// Its byte offset in the region.
    public let offset: Int
    @usableFromInline let address: UnsafeMutableRawPointer

    @usableFromInline
    init(region: MappedRegion, offset: Int, address: UnsafeMutableRawPointer) {
        self.region = region
        self.offset = offset
        self.address = address
    }

    /// The register's value (a volatile load).
    @inlinable @inline(__always)
    public func read() -> Value { Value.volatileLoad(from: address) }

    /// Stores `value` in the register (a volatile store).
    @inlinable @inline(__always)
    public func write(_ value: Value) { Value.volatileStore(value, to: address) }
}

extension MappedRegion {
    /// The register of type `Value` at `offset`: bounds and alignment are checked here, once.
    @inlinable
    public func register<Value: RegisterValue>(_ type: Value.Type = Value.self, at offset: Int) throws(UIOError) -> Register<Value> {
        try check(offset, width: MemoryLayout<Value>.size)
        return Register(region: self, offset: offset, address: base + offset)
    }
}

/// A register's bare address: a trivial value with no reference to its region, so copying it
/// counts no references — for a hot loop that must not retain or release anything per packet.
///
/// It does not keep the mapping alive: the driver keeps the ``MappedRegion`` (or a ``Register``)
/// for as long as any copy of it is used. A use after the region is gone touches unmapped memory.
@frozen
public struct UnmanagedRegister<Value: RegisterValue>: @unchecked Sendable {
    // @unchecked: a bare address; the driver keeps its region alive, as documented above.
    @usableFromInline let address: UnsafeMutableRawPointer

    @usableFromInline
    init(address: UnsafeMutableRawPointer) { self.address = address }

    /// The register's value (a volatile load).
    @inlinable @inline(__always)
    public func read() -> Value { Value.volatileLoad(from: address) }

    /// Stores `value` in the register (a volatile store).
    @inlinable @inline(__always)
    public func write(_ value: Value) { Value.volatileStore(value, to: address) }
}

extension Register {
    /// The register without its region (see ``UnmanagedRegister``): valid while this register,
    /// or its region, lives.
    @inlinable
    public var unmanaged: UnmanagedRegister<Value> { UnmanagedRegister(address: address) }
}
