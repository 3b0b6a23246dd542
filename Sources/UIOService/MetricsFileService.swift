#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SystemPackage
import UIOPlatform

/// Writes a driver's figures to a file every `interval` and once more when the group shuts
/// down, so that they can be read from outside the process: point Prometheus's node exporter
/// at the folder (`--collector.textfile.directory`), or `cat` it.
///
/// `render` makes the file's content, for example a swift-prometheus registry's
/// `emitToBuffer()` once the driver has bootstrapped `PrometheusMetricsFactory` and turned on
/// `InterruptConfig.exportsMetrics`. Each write goes to a temporary file in the same folder that
/// is then renamed over `path`, so a reader never sees half a file.
public struct MetricsFileService: Service, CustomStringConvertible {
    /// Where the figures go (a `.prom` name for the node exporter).
    public let path: FilePath
    /// How often they are written.
    public let interval: Duration
    private let render: @Sendable () -> [UInt8]
    private let logger: Logger
    private let writing = WriteLock()

    public init(path: FilePath, interval: Duration = .seconds(10), logger: Logger, render: @escaping @Sendable () -> [UInt8]) {
        self.path = path
        self.interval = interval
        self.render = render
        self.logger = logger
    }

    public var description: String { "MetricsFileService(\(path))" }

    /// Writes at once, throwing if the file cannot be written (a wrong path fails the start);
    /// later failures (a full disk) are logged and the driver goes on.
    public func run() async throws {
        try write()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Ends early, without an error, on graceful shutdown or cancellation.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            try? write()
        }
    }

    /// Writes the figures now, readable by everyone (mode 0644 whatever the umask: they are for
    /// other programs). Writes of one service never interleave.
    public func write() throws(Errno) {
        try writing.lock.withLock { (_: inout Void) throws(Errno) in
            let bytes = render()
            let temporary = FilePath(path.string + ".new")
            do {
                let file = try FileDescriptor.open(temporary, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                   permissions: [.ownerReadWrite, .groupRead, .otherRead])
                try file.closeAfter {
                    guard fchmod(file.rawValue, 0o644) == 0 else { throw Errno(rawValue: errno) }
                    _ = try file.writeAll(bytes)
                }
                guard rename(temporary.string, path.string) == 0 else { throw Errno(rawValue: errno) }
            } catch {
                let failure = error as? Errno ?? .ioError
                logger.warning("could not write the metrics to \(path): \(failure)")
                throw failure
            }
        }
    }
}

/// Serializes a service's writes (the service is a struct; its copies share this).
private final class WriteLock: Sendable {
    let lock = Locked<Void>(())
}
