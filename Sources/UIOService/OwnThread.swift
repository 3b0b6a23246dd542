import UIO
import SystemPackage
import UIOPlatform

/// Runs `body` on a thread of its own and suspends until it returns: blocking driver code (waits
/// on a device, a udev monitor) must not hold one of Swift concurrency's few cooperative threads.
func onOwnThread<Result: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
        do throws(Errno) {
            try OSThread.detached(name: name) {
                continuation.resume(with: Swift.Result { try body() })
            }
        } catch {
            continuation.resume(throwing: UIOError.threadFailed(name, errno: error))
        }
    }
}
