#if canImport(Glibc)
import Glibc
#endif

/// Which file a path or an open fd is, and for a device node, which device it reaches.
public struct FileStatus: Sendable, Hashable {
    /// The filesystem holding the file (`st_dev`).
    public var fileSystem: UInt64
    /// The file's inode in it (`st_ino`).
    public var inode: UInt64
    /// For a device node, the device it reaches (`st_rdev`); zero otherwise.
    public var device: DeviceNumber

    /// A status from its parts.
    public init(fileSystem: UInt64, inode: UInt64, device: DeviceNumber) {
        self.fileSystem = fileSystem
        self.inode = inode
        self.device = device
    }

    package init(_ info: stat) {
        self.init(fileSystem: UInt64(info.st_dev), inode: UInt64(info.st_ino), device: DeviceNumber(encoded: UInt64(info.st_rdev)))
    }

    /// Whether both name the same file (a node replaced under the same path is another file).
    package func isSameFile(as other: FileStatus) -> Bool { fileSystem == other.fileSystem && inode == other.inode }
}

/// A device's number, `major:minor`, as sysfs writes it in a device's `dev` attribute.
public struct DeviceNumber: Sendable, Hashable, CustomStringConvertible {
    /// The driver's number.
    public var major: UInt32
    /// The device's number within the driver.
    public var minor: UInt32

    /// A number from its parts.
    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// Decodes glibc's `dev_t` (the layout of `gnu_dev_major` and `gnu_dev_minor`).
    init(encoded value: UInt64) {
        major = UInt32(truncatingIfNeeded: ((value >> 8) & 0xfff) | ((value >> 32) & ~UInt64(0xfff)))
        minor = UInt32(truncatingIfNeeded: (value & 0xff) | ((value >> 12) & ~UInt64(0xff)))
    }

    /// Parses sysfs's `246:0`; `nil` for anything else.
    public init?(sysfs text: String) {
        let parts = text.split(separator: "\n").first?.split(separator: ":", omittingEmptySubsequences: false) ?? []
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        self.init(major: major, minor: minor)
    }

    public var description: String { "\(major):\(minor)" }
}
