import UIOPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A PCI device's configuration space, through sysfs `device/config` (UIO) or the device file's
/// config region (VFIO).
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
    /// Command register bit 2: Bus Master Enable, without which the device starts no DMA (and, on
    /// PCI, sends no MSI).
    public static let busMasterBit: UInt16 = 1 << 2

    /// `/sys/bus/pci/devices/…/config`, or what the VFIO region is called in messages.
    public let path: String
    /// The number of bytes the file offers.
    public let size: Int
    /// Whether the file opened for writing (root, or the project's udev rules).
    public let isWritable: Bool
    private let descriptor: SharedDescriptor
    /// Where the config space starts in the file: 0 in sysfs, the region's offset on VFIO.
    private let base: Int64
    /// Serializes read-modify-writes of the command register among every `ConfigSpace` of this
    /// file in the process (the ISR thread's re-arm makes one outside the interrupt lock), and
    /// keeps what this process knows of Bus Master.
    private let commandRegister: CommandRegister

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
        let size: Int64
        let file: FileStatus
        do throws(UIOError) {
            size = try system.fileSize(fd).get(operation: .status, subject: path)
            let status = try system.fileStatus(fd).get(operation: .status, subject: path)
            file = FileStatus(fileSystem: status.fileSystem, inode: status.inode, device: DeviceNumber(major: 0, minor: 0))
        } catch {
            descriptor.close()
            throw error
        }
        self.path = path
        self.size = Int(size)
        self.isWritable = writable
        self.descriptor = descriptor
        self.base = 0
        self.commandRegister = CommandRegister.of(.file(file))
    }

    /// Takes ownership of `fd`, a file whose bytes from `base` on are the config space of the PCI
    /// function `slot` (a VFIO device's config region), `size` bytes long, called `name` in
    /// messages.
    package init(descriptor fd: Int32, base: Int64, size: Int, writable: Bool, name: String, slot: String, system: SystemCalls) {
        self.path = name
        self.size = size
        self.isWritable = writable
        self.descriptor = SharedDescriptor(fd: fd, path: name, system: system)
        self.base = base
        self.commandRegister = CommandRegister.of(.pciFunction(slot))
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
    ///
    /// An update that finds Bus Master off while it is held (``acquireBusMastering()``) counts a
    /// loss (``busMasterLossCount``).
    public func updateCommand(_ change: (inout UInt16) -> Void) throws(UIOError) {
        try commandRegister.state.withLock { register throws(UIOError) in
            var value = try command()
            register.observe(lowByte: UInt8(truncatingIfNeeded: value))
            change(&value)
            try write16(value, at: Self.commandOffset)
            register.updates &+= 1
        }
    }

    /// Takes a hold on Bus Master Enable and turns it on: the device may start DMA (and, on PCI,
    /// send MSI). It stays on until every hold is released (``releaseBusMastering()``), so two
    /// drivers of one function in this process do not turn it off under each other.
    ///
    /// While it is held, the process watches it: every command-register update (the interrupt
    /// re-arm of uio_pci_generic makes one per interrupt) and ``checkBusMastering()`` count it found
    /// off. uio_pci_generic turns it off whenever any open file of the device closes — a second
    /// program's `open` and `close` of `/dev/uioN` is enough — and a DMA the device then starts
    /// never lands, though its completion interrupt still arrives. The watch is best effort: a
    /// close that lands between another update's read and its write is undone by that write unseen.
    ///
    /// Bus Master lives in the register's low byte, which is written alone: the Interrupt Disable
    /// bit the kernel's handler may set meanwhile (bit 10) is never written back.
    public func acquireBusMastering() throws(UIOError) {
        try commandRegister.state.withLock { register throws(UIOError) in
            let low = try read8(at: Self.commandOffset)
            register.observe(lowByte: low)  // a loss under another holder is counted before it is undone
            try write8(low | UInt8(Self.busMasterBit), at: Self.commandOffset)
            register.updates &+= 1
            register.busMasterHolders += 1
            register.lossCounted = false
        }
    }

    /// Releases a hold taken by ``acquireBusMastering()``; the last one turns Bus Master off, so
    /// the device starts no more DMA. Returns whether Bus Master is off now: `false` while
    /// another holder keeps it on. The hold is released even when the write throws; Bus Master is
    /// then in an unknown state, and memory the device was given must not be freed.
    @discardableResult
    public func releaseBusMastering() throws(UIOError) -> Bool {
        try commandRegister.state.withLock { register throws(UIOError) in
            if register.busMasterHolders > 0 { register.busMasterHolders -= 1 }
            guard register.busMasterHolders == 0 else { return false }
            let low = try read8(at: Self.commandOffset)
            try write8(low & ~UInt8(Self.busMasterBit), at: Self.commandOffset)
            register.updates &+= 1
            return true
        }
    }

    /// Releases a hold without touching the device: for a device the kernel removed, which
    /// turned Bus Master off itself (`pci_disable_device`) and may be another driver's now.
    package func abandonBusMastering() {
        commandRegister.state.withLock { register in
            if register.busMasterHolders > 0 { register.busMasterHolders -= 1 }
        }
    }

    /// Reads Bus Master; if it is off while held, counts the loss and turns it back on. Returns
    /// the losses counted so far (``busMasterLossCount``), one read of the register when nothing
    /// was lost.
    ///
    /// A driver compares it with the count it saw before a transfer, where the transfer completes:
    /// a larger count means the device may have dropped the transfer (its completion interrupt
    /// arrives, its data does not), so it must be made again.
    public func checkBusMastering() throws(UIOError) -> UInt64 {
        try commandRegister.state.withLock { register throws(UIOError) in
            guard register.busMasterHolders > 0 else { return register.busMasterLosses }
            let low = try read8(at: Self.commandOffset)
            register.observe(lowByte: low)
            if low & UInt8(Self.busMasterBit) == 0 {
                try write8(low | UInt8(Self.busMasterBit), at: Self.commandOffset)
                register.updates &+= 1
                register.lossCounted = false
            }
            return register.busMasterLosses
        }
    }

    /// Times this process found Bus Master off while it was held; no access to the device.
    public var busMasterLossCount: UInt64 { commandRegister.state.withLock { $0.busMasterLosses } }

    /// Whether Bus Master Enable is on now.
    public func isBusMastering() throws(UIOError) -> Bool {
        try read8(at: Self.commandOffset) & UInt8(Self.busMasterBit) != 0
    }

    private func read<T: FixedWidthInteger>(at offset: Int) throws(UIOError) -> T {
        try check(offset, width: MemoryLayout<T>.size)
        return try descriptor.withDescriptor { fd throws(UIOError) in
            var value: T = 0
            let count = try withUnsafeMutableBytes(of: &value) { buffer in
                retryingOnInterrupt { descriptor.system.pread(fd, buffer, base + Int64(offset)) }
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
                retryingOnInterrupt { descriptor.system.pwrite(fd, buffer, base + Int64(offset)) }
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
