import SystemPackage
import UIO
import UIOPlatform

/// Starts a framework thread; failing to get one is WDF's `STATUS_INSUFFICIENT_RESOURCES`.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(DriverError) -> OSThread {
    do {
        return try OSThread(name: name, body)
    } catch {
        throw DriverError(.insufficientResources, "could not start the thread \(name)", underlying: .threadFailed(name, errno: error))
    }
}

/// Starts a framework worker thread, each job inside `around`, failing as
/// ``startThread(name:_:)`` does.
func startWorker(name: String, standingJob: (@Sendable () -> Void)? = nil,
                 around: @escaping @Sendable (() -> Void) -> Void = { $0() }) throws(DriverError) -> WorkerThread {
    do {
        return try WorkerThread(name: name, standingJob: standingJob, around: around)
    } catch {
        throw DriverError(.insufficientResources, "could not start the thread \(name)", underlying: .threadFailed(name, errno: error))
    }
}
