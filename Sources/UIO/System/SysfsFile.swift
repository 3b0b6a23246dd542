import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Reads small sysfs files through the syscall seam (libudev caches attribute values; these
/// reads must be fresh).
enum SysfsFile {
    static func read(_ path: String, system: SystemCalls) throws(UIOError) -> String {
        let fd = try system.open(path, O_RDONLY).get(operation: "open", subject: path)
        defer { _ = system.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = try bytes.withUnsafeMutableBytes { buffer in
            retryingOnInterrupt { system.pread(fd, buffer, 0) }
        }.get(operation: "read", subject: path)
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    static func readEventCount(sysPath: String, system: SystemCalls) throws(UIOError) -> UInt32 {
        let path = sysPath + "/event"
        let text = try read(path, system: system)
        guard let value = SysfsValue.decimal(text) else {
            throw UIOError.malformed(path, value: text, expected: "a decimal count")
        }
        return UInt32(truncatingIfNeeded: value)
    }
}

extension Result where Failure == Errno {
    /// The value, or the errno classified as a ``UIOError`` about `subject`.
    func get(operation: String, subject: String) throws(UIOError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno): throw UIOError.system(errno, operation: operation, subject: subject)
        }
    }
}
