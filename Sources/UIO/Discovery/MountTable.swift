/// The kernel's list of mounts as `/proc/self/mountinfo` writes it: which block device
/// (`major:minor`) is mounted where, as this process sees it.
///
/// A mount outside this process's root or mount namespace is not listed, and a file system
/// without a block device of its own (btrfs, overlay, tmpfs) shows an anonymous `0:N`.
struct MountTable: Sendable, Equatable {
    struct Mount: Sendable, Equatable {
        /// The block device, as `dev` in sysfs writes it: `254:1`.
        let device: String
        let mountPoint: String
    }

    let mounts: [Mount]

    /// Reads the table; a line that is not a mountinfo line is left out.
    init(parsing text: String) {
        mounts = text.split(separator: "\n").compactMap { line in
            // id, parent id, major:minor, root, mount point, options, …
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 5 else { return nil }
            let numbers = fields[2].split(separator: ":", omittingEmptySubsequences: false)
            guard numbers.count == 2, numbers.allSatisfy({ UInt32($0) != nil }) else { return nil }
            return Mount(device: String(fields[2]), mountPoint: Self.unescaped(fields[4]))
        }
    }

    /// Where the block device `device` (`major:minor`) is mounted.
    func mountPoints(of device: String) -> [String] {
        mounts.filter { $0.device == device }.map(\.mountPoint)
    }

    /// The kernel writes a space, tab, newline and backslash in a path as `\040`, `\011`,
    /// `\012` and `\134`.
    private static func unescaped(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var rest = Array(field.utf8)[...]
        while let byte = rest.first {
            if byte == UInt8(ascii: "\\"), rest.count >= 4,
               let code = UInt8(String(decoding: rest.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(code)
                rest = rest.dropFirst(4)
            } else {
                bytes.append(byte)
                rest = rest.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
