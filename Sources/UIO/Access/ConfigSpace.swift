import UIOPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A PCI device's configuration space, through sysfs `device/config`.
///
/// Accesses are little-endian, naturally aligned and bounds-checked against the file's size
/// (256 bytes, or 4096 for PCI Express). For uio_pci_generic, the command register's Interrupt
/// Disable bit is how an interrupt is re-armed: the kernel sets it in its handler and the driver
/// clears it when it is ready for the next one.
public final class ConfigSpace: Sendable {
    /// The command register (16 bits at 0x04).
    public static let commandOffset = 0x04
    /// The status register (16 bits at 0x06).
    public static let statusOffset = 0x06
    /// Command register bit 10: INTx emulation disabled.
    public static let interruptDisableBit: UInt16 = 1 << 10
    /// Status register bit 3: INTx asserted.
    public static let interruptStatusBit: UInt16 = 1 << 3

    /// `/sys/bus/pci/devices/…/config`.
    public let path: String
    /// The number of bytes the file offers.
    public let size: Int
    /// Whether the file opened for writing (root, or the project's udev rules).
    public let isWritable: Bool
    private let descriptor: SharedDescriptor
    /// Serializes read-modify-writes of the command register among every `ConfigSpace` of this
    /// file in the process (the ISR thread's re-arm makes one outside the interrupt lock), and
    /// counts them. A count, not `Void`: every empty value shares one address, which
    /// ThreadSanitizer takes for one variable guarded by different locks.
    private let commandUpdates: Locked<UInt64>

    /// One command-register lock per config file, made the first time the file is opened.
    private static let commandLocks = Locked<[String: Locked<UInt64>]>([:])

    /// Opens the config space at `path` through `system` (for simulated devices).
    package init(path: String, system: SystemCalls) throws(UIOError) {
        var writable = true
        var opened = system.open(path, O_RDWR)
        if case .failure(let errno) = opened, errno == .permissionDenied || errno == .notPermitted {
            writable = false
            opened = system.open(path, O_RDONLY)
        }
        let fd = try opened.get(operation: .accessFile, subject: path)
        let descriptor = SharedDescriptor(fd: fd, path: path, system: system)
        let size = try system.fileSize(fd).get(operation: .status, subject: path)
        self.path = path
        self.size = Int(size)
        self.isWritable = writable
        self.descriptor = descriptor
        self.commandUpdates = Self.commandLocks.withLock { locks in
            if let lock = locks[path] { return lock }
            let lock = Locked<UInt64>(0)
            locks[path] = lock
            return lock
        }
    }

    /// Releases the file; later accesses throw ``UIOError/Code/closed``. Closing twice is harmless.
    public func close() { descriptor.close() }

    /// The byte at `offset`.
    public func read8(at offset: Int) throws(UIOError) -> UInt8 { try read(at: offset) }
    /// The 16-bit little-endian value at `offset` (2-byte aligned).
    public func read16(at offset: Int) throws(UIOError) -> UInt16 { try read(at: offset) }
    /// The 32-bit little-endian value at `offset` (4-byte aligned).
    public func read32(at offset: Int) throws(UIOError) -> UInt32 { try read(at: offset) }
    /// Writes the byte at `offset`.
    public func write8(_ value: UInt8, at offset: Int) throws(UIOError) { try write(value, at: offset) }
    /// Writes a 16-bit little-endian value at `offset` (2-byte aligned).
    public func write16(_ value: UInt16, at offset: Int) throws(UIOError) { try write(value, at: offset) }
    /// Writes a 32-bit little-endian value at `offset` (4-byte aligned).
    public func write32(_ value: UInt32, at offset: Int) throws(UIOError) { try write(value, at: offset) }

    /// The command register.
    public func command() throws(UIOError) -> UInt16 { try read16(at: Self.commandOffset) }
    /// The status register.
    public func status() throws(UIOError) -> UInt16 { try read16(at: Self.statusOffset) }

    /// Whether INTx is masked at the device (command bit 10).
    public func isInterruptDisabled() throws(UIOError) -> Bool {
        try command() & Self.interruptDisableBit != 0
    }

    /// Whether the device is asserting INTx (status bit 3).
    public func isInterruptPending() throws(UIOError) -> Bool {
        try status() & Self.interruptStatusBit != 0
    }

    /// Masks (`true`) or unmasks (`false`) INTx at the device.
    ///
    /// A read-modify-write of the whole 16-bit command register. Writing only its high byte
    /// (offset 5, where bit 10 lives) is not enough on QEMU: it re-evaluates the INTx line only
    /// for a write that covers offset 4, so an interrupt the device raised while masked was never
    /// delivered after unmasking (measured with the edu device: stuck after one interrupt with
    /// the byte write, 1,000 of 1,000 delivered with the 16-bit write).
    public func setInterruptDisabled(_ disabled: Bool) throws(UIOError) {
        try updateCommand { command in
            command = disabled ? command | Self.interruptDisableBit : command & ~Self.interruptDisableBit
        }
    }

    /// Changes the command register by a read-modify-write that no other `updateCommand` of the
    /// same device in this process interleaves with, the interrupt re-arm included. Change the
    /// command register (Bus Master, Memory Space) this way while the device's interrupt is
    /// enabled: uio_pci_generic's re-arm writes the whole register from the ISR thread, outside
    /// the interrupt lock, and a plain ``write16(_:at:)`` could lose its change or undo the re-arm.
    public func updateCommand(_ change: (inout UInt16) -> Void) throws(UIOError) {
        try commandUpdates.withLock { updates throws(UIOError) in
            var value = try command()
            change(&value)
            try write16(value, at: Self.commandOffset)
            updates &+= 1
        }
    }

    private func read<T: FixedWidthInteger>(at offset: Int) throws(UIOError) -> T {
        try check(offset, width: MemoryLayout<T>.size)
        return try descriptor.withDescriptor { fd throws(UIOError) in
            var value: T = 0
            let count = try withUnsafeMutableBytes(of: &value) { buffer in
                retryingOnInterrupt { descriptor.system.pread(fd, buffer, Int64(offset)) }
            }.get(operation: .accessFile, subject: path)
            guard count == MemoryLayout<T>.size else { throw shortTransfer(offset, count: count, width: MemoryLayout<T>.size, reading: true) }
            return T(littleEndian: value)
        }
    }

    private func write<T: FixedWidthInteger>(_ value: T, at offset: Int) throws(UIOError) {
        try check(offset, width: MemoryLayout<T>.size)
        guard isWritable else {
            throw UIOError(.permissionDenied, subject: path, reason: "opened read-only: writing needs root or the project's udev rules",
                           errno: .permissionDenied, advice: "install the rules in udev/ so the device's group may write config")
        }
        try descriptor.withDescriptor { fd throws(UIOError) in
            var little = value.littleEndian
            let count = try withUnsafeBytes(of: &little) { buffer in
                retryingOnInterrupt { descriptor.system.pwrite(fd, buffer, Int64(offset)) }
            }.get(operation: .accessFile, subject: path)
            guard count == MemoryLayout<T>.size else { throw shortTransfer(offset, count: count, width: MemoryLayout<T>.size, reading: false) }
        }
    }

    private func check(_ offset: Int, width: Int) throws(UIOError) {
        guard offset >= 0, offset <= size - width else {
            throw UIOError(.outOfBounds, subject: path,
                           reason: "a \(width * 8)-bit access at offset \(offset) reaches past the config space's \(size) bytes")
        }
        guard offset % width == 0 else {
            throw UIOError(.misaligned, subject: path, reason: "a \(width * 8)-bit access at offset \(offset) is not \(width)-byte aligned")
        }
    }

    /// pci_read_config answers a reader without CAP_SYS_ADMIN with the first 64 bytes only;
    /// any other short transfer is not a matter of permission.
    private func shortTransfer(_ offset: Int, count: Int, width: Int, reading: Bool) -> UIOError {
        let what = "only \(count) of \(width) bytes at offset \(offset) were \(reading ? "read" : "written")"
        if reading && offset + width > 64 {
            return UIOError(.permissionDenied, subject: path, reason: "\(what): unprivileged readers see the first 64 bytes only",
                            advice: "run as root (CAP_SYS_ADMIN) for the rest of the config space")
        }
        return UIOError(.systemCall, subject: path, reason: "\(what); the kernel gave no error")
    }
}
