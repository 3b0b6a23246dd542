import UIOPlatform

/// A region of a VFIO device reached through the device file, one `pread` or `pwrite` per access:
/// an I/O-port BAR, or a BAR vfio-pci will not let be mapped.
///
/// Accesses are little-endian, naturally aligned and bounds-checked, as ``MappedRegion``'s are, and
/// throw ``UIOError/Code/deviceRemoved`` once the device is gone and ``UIOError/Code/closed``
/// after its handle is closed. Each is a system call: for registers touched per interrupt, a
/// mapped region is the fast way.
public final class VFIOFileRegion: Sendable {
    /// What the region is, for messages: `vfio 0000:00:10.0 BAR 2`.
    public let name: String
    /// The region's length in bytes.
    public let size: Int
    /// Whether the region takes writes.
    public let isWritable: Bool
    private let base: Int64
    private let descriptor: SharedDescriptor
    private let liveness: DeviceLiveness

    init(name: String, size: Int, base: Int64, writable: Bool, descriptor: SharedDescriptor, liveness: DeviceLiveness) {
        self.name = name
        self.size = size
        self.base = base
        self.isWritable = writable
        self.descriptor = descriptor
        self.liveness = liveness
    }

    /// The `T` at `offset` bytes.
    public func read<T: FixedWidthInteger>(_ type: T.Type = T.self, at offset: Int) throws(UIOError) -> T {
        try check(offset, width: MemoryLayout<T>.size)
        var value: T = 0
        let count = try descriptor.withDescriptor { fd throws(UIOError) in
            try withUnsafeMutableBytes(of: &value) { buffer in
                retryingOnInterrupt { descriptor.system.pread(fd, buffer, base + Int64(offset)) }
            }.get(operation: .accessFile, subject: name)
        }
        guard count == MemoryLayout<T>.size else { throw short(offset, count: count, reading: true) }
        return T(littleEndian: value)
    }

    /// Writes `value` at `offset` bytes.
    public func write<T: FixedWidthInteger>(_ value: T, at offset: Int) throws(UIOError) {
        try check(offset, width: MemoryLayout<T>.size)
        guard isWritable else { throw UIOError(.permissionDenied, subject: name, reason: "vfio-pci reports the region read-only") }
        var little = value.littleEndian
        let count = try descriptor.withDescriptor { fd throws(UIOError) in
            try withUnsafeBytes(of: &little) { buffer in
                retryingOnInterrupt { descriptor.system.pwrite(fd, buffer, base + Int64(offset)) }
            }.get(operation: .accessFile, subject: name)
        }
        guard count == MemoryLayout<T>.size else { throw short(offset, count: count, reading: false) }
    }

    private func check(_ offset: Int, width: Int) throws(UIOError) {
        guard offset >= 0, offset <= size - width else {
            throw UIOError(.outOfBounds, subject: name, reason: "a \(width * 8)-bit access at offset \(offset) reaches past the region's \(size) bytes")
        }
        guard offset % width == 0 else {
            throw UIOError(.misaligned, subject: name, reason: "a \(width * 8)-bit access at offset \(offset) is not \(width)-byte aligned")
        }
        guard !liveness.isRemoved else {
            throw UIOError(.deviceRemoved, subject: name, reason: "the device is gone; its registers are not touched",
                           advice: "the kernel asked for it back (unbind or hot-unplug); stop using it and rediscover")
        }
    }

    private func short(_ offset: Int, count: Int, reading: Bool) -> UIOError {
        UIOError(.systemCall, subject: name, reason: "only \(count) bytes at offset \(offset) were \(reading ? "read" : "written"); the kernel gave no error")
    }
}
