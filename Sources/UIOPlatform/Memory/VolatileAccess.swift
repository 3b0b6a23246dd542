import CUIOShim

/// Loads and stores of device memory: volatile (never merged, split or elided), with the ordering
/// of the kernel's `readl` (acquire after) and `writel` (release before). In C, because Swift has
/// no volatile access; inlined, so each compiles to the instruction C would.
public enum VolatileAccess {
    @inlinable @inline(__always) public static func load(_ address: UnsafeRawPointer) -> UInt8 { cuio_mmio_read8(address) }
    @inlinable @inline(__always) public static func load(_ address: UnsafeRawPointer) -> UInt16 { cuio_mmio_read16(address) }
    @inlinable @inline(__always) public static func load(_ address: UnsafeRawPointer) -> UInt32 { cuio_mmio_read32(address) }
    @inlinable @inline(__always) public static func load(_ address: UnsafeRawPointer) -> UInt64 { cuio_mmio_read64(address) }
    @inlinable @inline(__always) public static func store(_ value: UInt8, _ address: UnsafeMutableRawPointer) { cuio_mmio_write8(address, value) }
    @inlinable @inline(__always) public static func store(_ value: UInt16, _ address: UnsafeMutableRawPointer) { cuio_mmio_write16(address, value) }
    @inlinable @inline(__always) public static func store(_ value: UInt32, _ address: UnsafeMutableRawPointer) { cuio_mmio_write32(address, value) }
    @inlinable @inline(__always) public static func store(_ value: UInt64, _ address: UnsafeMutableRawPointer) { cuio_mmio_write64(address, value) }
}
