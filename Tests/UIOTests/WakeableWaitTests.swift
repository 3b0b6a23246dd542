import Dispatch
import Foundation
import Synchronization
import Testing
import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The one wait every blocking reader uses: a file and a wake-up, with one rule between them.
@Suite("Wake-able wait")
struct WakeableWaitTests {
    /// An eventfd standing in for a device's file: readable once signalled.
    final class File: Sendable {
        let fd = try! SystemCalls.live.eventfdCreate().get()
        func makeReady() { _ = SystemCalls.live.eventfdSignal(fd) }
        deinit { _ = Glibc.close(fd) }
    }

    @Test("a ready file and a wake-up together: the file comes first, the wake-up ends the next wait")
    func readyBeforeWake() throws {
        let file = File()
        let wait = try WakeableWait(name: "test", system: .live)
        defer { wait.close() }
        file.makeReady()
        try wait.wake()
        guard case .ready = try wait.wait(on: file.fd, until: nil) else { Issue.record("the ready file came first"); return }
        #expect(try wait.wait(on: file.fd, until: nil) == .woken)
    }

    @Test("a wake-up before the wait ends it at once; a passed deadline times out")
    func wakeBeforeWaitAndDeadline() throws {
        let file = File()
        let wait = try WakeableWait(name: "test", system: .live)
        defer { wait.close() }
        try wait.wake()
        #expect(try wait.wait(on: file.fd, until: .now + .seconds(60)) == .woken)
        #expect(try wait.wait(on: file.fd, until: .now + .milliseconds(10)) == .timedOut)
    }

    @Test("close wakes a blocked waiter; a wait after close fails as closed")
    func closeWhileWaiting() throws {
        let file = File()
        let wait = try WakeableWait(name: "test", system: .live)
        let outcome = Locked<WakeableWait.Outcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            outcome.withLock { $0 = try? wait.wait(on: file.fd, until: nil) }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.05)
        wait.close()
        #expect(done.wait(timeout: .now() + 10) == .success, "the waiter returned")
        #expect(outcome.withLock { $0 } == .woken)
        #expect(throws: WakeableWait.Failure.closed) { try wait.wait(on: file.fd, until: nil) }
    }

    @Test("a hang-up wait ended by a wake-up consumes it: the next one blocks until woken again")
    func hangUpWaitConsumesTheWake() throws {
        let file = File()
        let wait = try WakeableWait(name: "test", system: .live)
        defer { wait.close() }
        try wait.wake()
        #expect(try wait.waitForHangUp(on: file.fd) == false)
        let returned = Locked(false)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? wait.waitForHangUp(on: file.fd)
            returned.withLock { $0 = true }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.05)
        #expect(!returned.withLock { $0 }, "the first wake-up was consumed")
        try wait.wake()
        #expect(done.wait(timeout: .now() + 10) == .success)
    }
}
