import UIOPlatform

/// A width a device register can be read and written at: 8, 16, 32 or 64 bits.
///
/// Loads and stores are volatile (never merged, split or elided) with the ordering of the
/// kernel's `readl`/`writel` (`VolatileAccess` in UIOPlatform).
public protocol RegisterValue: FixedWidthInteger, UnsignedInteger, Sendable {
    /// Loads the value at `address`: volatile, then an acquire fence (the kernel's `readl`).
    static func volatileLoad(from address: UnsafeRawPointer) -> Self
    /// Stores `value` at `address`: a release fence, then volatile (the kernel's `writel`).
    static func volatileStore(_ value: Self, to address: UnsafeMutableRawPointer)
}

extension UInt8: RegisterValue {
    /// A volatile load with acquire ordering.
    @inlinable @inline(__always) public static func volatileLoad(from address: UnsafeRawPointer) -> UInt8 { VolatileAccess.load(address) }
    /// A volatile store with release ordering.
    @inlinable @inline(__always) public static func volatileStore(_ value: UInt8, to address: UnsafeMutableRawPointer) { VolatileAccess.store(value, address) }
}

extension UInt16: RegisterValue {
    /// A volatile load with acquire ordering.
    @inlinable @inline(__always) public static func volatileLoad(from address: UnsafeRawPointer) -> UInt16 { VolatileAccess.load(address) }
    /// A volatile store with release ordering.
    @inlinable @inline(__always) public static func volatileStore(_ value: UInt16, to address: UnsafeMutableRawPointer) { VolatileAccess.store(value, address) }
}

extension UInt32: RegisterValue {
    /// A volatile load with acquire ordering.
    @inlinable @inline(__always) public static func volatileLoad(from address: UnsafeRawPointer) -> UInt32 { VolatileAccess.load(address) }
    /// A volatile store with release ordering.
    @inlinable @inline(__always) public static func volatileStore(_ value: UInt32, to address: UnsafeMutableRawPointer) { VolatileAccess.store(value, address) }
}

extension UInt64: RegisterValue {
    /// A volatile load with acquire ordering.
    @inlinable @inline(__always) public static func volatileLoad(from address: UnsafeRawPointer) -> UInt64 { VolatileAccess.load(address) }
    /// A volatile store with release ordering.
    @inlinable @inline(__always) public static func volatileStore(_ value: UInt64, to address: UnsafeMutableRawPointer) { VolatileAccess.store(value, address) }
}
