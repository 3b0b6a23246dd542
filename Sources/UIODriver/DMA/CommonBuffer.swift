import UIO

/// Memory the driver and its device share (`WDFCOMMONBUFFER`): descriptor rings, mailboxes,
/// bounce buffers.
///
/// The driver reads and writes it through ``memory`` (bounds-checked, volatile) or the raw
/// ``alignedVirtualAddress``; the device is given ``alignedLogicalAddress``. It stays allocated
/// until the device has stopped with Bus Master off (see ``DMAEnabler``). It holds no reference to
/// its enabler or device, so a driver may keep it in the device's context without a cycle.
public final class CommonBuffer: Sendable {
    /// The memory, with typed access.
    public let memory: DMABuffer

    init(memory: DMABuffer) {
        self.memory = memory
    }

    /// `WdfCommonBufferGetAlignedVirtualAddress`: the first byte, in this process.
    public var alignedVirtualAddress: UnsafeMutableRawPointer { memory.baseAddress }

    /// `WdfCommonBufferGetAlignedLogicalAddress`: the first byte's address for the device (the
    /// physical address on UIO).
    public var alignedLogicalAddress: UInt64 { memory.deviceAddress }

    /// `WdfCommonBufferGetLength`.
    public var length: Int { memory.length }

    /// Reads the `T` at `offset` bytes.
    @inlinable @inline(__always)
    public func read<T: RegisterValue>(_ type: T.Type = T.self, at offset: Int) throws(UIOError) -> T {
        try memory.read(type, at: offset)
    }

    /// Writes `value` at `offset` bytes.
    @inlinable @inline(__always)
    public func write<T: RegisterValue>(_ value: T, at offset: Int) throws(UIOError) {
        try memory.write(value, at: offset)
    }

    /// Copies `bytes` into the buffer at `offset`.
    public func copyBytes(_ bytes: some Collection<UInt8>, to offset: Int = 0) throws(UIOError) {
        try memory.copyBytes(bytes, to: offset)
    }

    /// The `count` bytes at `offset`.
    public func bytes(at offset: Int = 0, count: Int) throws(UIOError) -> [UInt8] {
        try memory.bytes(at: offset, count: count)
    }

    /// Runs `body` with the whole buffer, unchecked (see `DMABuffer.withUnsafeMutableBytes(_:)`).
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try memory.withUnsafeMutableBytes(body)
    }
}
