import Foundation

/// Polls `condition` every millisecond until it holds or `timeout` seconds pass: for effects that
/// other threads (or the kernel) bring about. Returns whether it held.
public func waitUntil(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}
