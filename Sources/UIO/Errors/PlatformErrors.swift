import SystemPackage
import UIOPlatform

extension UIOError {
    /// Starts a thread named `name`; failing to get one is a ``UIOError/Code/systemCall`` error.
    static func startingThread(_ name: String, _ body: @escaping @Sendable () -> Void) throws(UIOError) -> OSThread {
        do {
            return try OSThread(name: name, body)
        } catch {
            throw threadFailed(name, errno: error)
        }
    }

    /// `pthread_create` failed for the thread `name`.
    package static func threadFailed(_ name: String, errno: Errno) -> UIOError {
        UIOError(.systemCall, subject: name, reason: "could not start the thread: pthread_create failed",
                 errno: errno, advice: "the process may have reached its thread limit (ulimit -u)")
    }

    /// Starts a thread nobody waits for, as ``startingThread(_:_:)``.
    static func detachedThread(_ name: String, _ body: @escaping @Sendable () -> Void) throws(UIOError) {
        try startingThread(name, body).detach()
    }

    /// Runs a wake-able wait (or a wake-up: `operation` `.other`) on `subject`'s file, its
    /// failures as errors about `subject`.
    static func waiting<T>(on subject: String, operation: SystemOperation = .poll,
                           _ body: () throws(WakeableWait.Failure) -> T) throws(UIOError) -> T {
        do {
            return try body()
        } catch {
            switch error {
            case .closed: throw UIOError.closed(subject)
            case .system(let errno): throw UIOError.system(errno, operation: operation, subject: subject)
            }
        }
    }
}

extension SharedDescriptor {
    /// Runs `body` with the fd, which stays open until `body` returns; ``UIOError/Code/closed``
    /// after ``close()``.
    @inline(__always)
    func withDescriptor<T>(_ body: (Int32) throws(UIOError) -> T) throws(UIOError) -> T {
        try withDescriptor(orIfClosed: UIOError.closed(path), body)
    }
}
