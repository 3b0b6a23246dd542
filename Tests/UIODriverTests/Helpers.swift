import UIOPlatform
import Dispatch
import Foundation
import UIO
import UIODriver
import UIOTesting

/// Calls recorded from any thread, in order.
final class Recorder: Sendable {
    private let entries = Locked<[String]>([])
    func record(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
    func count(of entry: String) -> Int { all.filter { $0 == entry }.count }
}

/// A one-way gate a callback waits at until the test opens it.
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let arrived = DispatchSemaphore(value: 0)
    /// Called by the callback: signals arrival, then waits to be let through.
    func pass() {
        arrived.signal()
        semaphore.wait()
    }
    /// Waits until a callback has arrived at the gate.
    func waitForArrival(timeout: Double = 10) -> Bool { arrived.wait(timeout: .now() + timeout) == .success }
    func open(times: Int = 1) { for _ in 0..<times { semaphore.signal() } }
}

/// A counter in an interrupt context.
struct Counts: Sendable {
    var isrCalls = 0
    var lastEvent: InterruptEvent?
}
