import UIOPlatform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Reads small sysfs files through the syscall seam (libudev caches attribute values; these
/// reads must be fresh).
enum SysfsFile {
    /// Reads up to `limit` bytes: sysfs attributes are one page; `/proc/interrupts` is longer
    /// and reports no size, so it is read until a read returns nothing.
    static func read(_ path: String, system: SystemCalls, limit: Int = 4096) throws(UIOError) -> String {
        let fd = try system.open(path, O_RDONLY).get(operation: .accessFile, subject: path)
        defer { _ = system.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let offset = Int64(bytes.count)
            let count = try chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { system.pread(fd, buffer, offset) }
            }.get(operation: .accessFile, subject: path)
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }

    static func readEventCount(sysPath: String, system: SystemCalls) throws(UIOError) -> UInt32 {
        let path = sysPath + "/event"
        let text = try read(path, system: system)
        guard let value = SysfsValue.decimal(text, as: UInt32.self) else {
            throw UIOError.malformed(path, value: text, expected: "a decimal 32-bit count")
        }
        return value
    }
}

extension Result where Failure == Errno {
    /// The value, or the errno classified as a ``UIOError`` about `subject`.
    package func get(operation: SystemOperation, subject: String) throws(UIOError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno): throw UIOError.system(errno, operation: operation, subject: subject)
        }
    }
}
