#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Tells the service manager how the driver is doing, by systemd's notification protocol
/// (`sd_notify`): datagrams of `KEY=value` lines to the socket named by `NOTIFY_SOCKET`. A unit of
/// `Type=notify` counts the driver started only once it sends `READY=1`, after D0 entry.
///
/// Outside a service manager (no `NOTIFY_SOCKET`), every notification does nothing.
public struct ServiceManagerNotifier: Sendable {
    /// The socket's path (`@` first for an abstract socket), or `nil` when nobody listens.
    public let socketPath: String?

    /// A notification that could not be sent.
    public struct Failure: Error, CustomStringConvertible {
        /// The socket it was for.
        public let socketPath: String
        /// What failed: `socket`, `sendto`, or the path's length.
        public let operation: String
        /// The system's error.
        public let errno: Errno
        public var description: String { "notifying the service manager at \(socketPath): \(operation) failed: \(errno)" }
    }

    /// A notifier for `socketPath`; `nil` makes one that sends nothing.
    public init(socketPath: String?) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The notifier the service manager asked for, through `NOTIFY_SOCKET`.
    public static var fromEnvironment: ServiceManagerNotifier {
        ServiceManagerNotifier(socketPath: getenv("NOTIFY_SOCKET").map { String(cString: $0) })
    }

    /// `READY=1`: start-up is finished (the device is in D0, its interrupts enabled).
    public func ready(status: String? = nil) throws(Failure) {
        try send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STOPPING=1`: the stop has begun.
    public func stopping(status: String? = nil) throws(Failure) {
        try send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STATUS=…`: one line `systemctl status` shows.
    public func status(_ text: String) throws(Failure) {
        try send(["STATUS=\(text)"])
    }

    /// Sends `assignments` (`KEY=value` each, no newlines inside) as one datagram.
    public func send(_ assignments: [String]) throws(Failure) {
        guard let socketPath else { return }
        let message = assignments.map { $0.replacing("\n", with: " ") }.joined(separator: "\n")
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(socketPath: socketPath, operation: "socket", errno: .current) }
        defer { close(descriptor) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract: a leading NUL, no trailing one
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else {
            throw Failure(socketPath: socketPath, operation: "the path (\(path.count) bytes, at most \(capacity - 1))", errno: .fileNameTooLong)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path.first == 0 ? 0 : 1))
        let sent = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        guard sent >= 0 else { throw Failure(socketPath: socketPath, operation: "sendto", errno: .current) }
    }
}

extension Errno {
    fileprivate static var current: Errno { Errno(rawValue: errno) }
}
