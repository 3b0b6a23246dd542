import UIO

/// Starts a framework thread; failing to get one is WDF's `STATUS_INSUFFICIENT_RESOURCES`.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(DriverError) -> OSThread {
    do {
        return try OSThread(name: name, body)
    } catch {
        throw DriverError(.insufficientResources, "could not start the thread \(name)", underlying: error)
    }
}
