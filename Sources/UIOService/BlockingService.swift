import ServiceLifecycle

/// A blocking loop as a service (a udev monitor, a watch that prints): `body` runs on a thread of
/// its own, and graceful shutdown or cancellation calls `interrupt`, which must make `body` return
/// soon.
public struct BlockingService: Service, CustomStringConvertible {
    private let name: String
    private let body: @Sendable () throws -> Void
    private let interrupt: @Sendable () -> Void

    /// `name` names the thread (15 characters are kept).
    public init(name: String, body: @escaping @Sendable () throws -> Void, interrupt: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        self.interrupt = interrupt
    }

    public var description: String { "BlockingService(\(name))" }

    public func run() async throws {
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await onOwnThread(named: name, body)
        } onCancelOrGracefulShutdown: {
            interrupt()
        }
    }
}
