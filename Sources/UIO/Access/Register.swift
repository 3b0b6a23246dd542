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
