import Synchronization
import Testing
import TestSupport
import UIO
@testable import UIODriver
import UIOPlatform
import UIOTesting

/// The ISR thread tells its interrupt when it begins and ends, on every way out, so a DPC queued
/// for it runs before it is gone and none is accepted after.
@Suite("The ISR thread's beginning and end")
struct ServiceThreadExitTests {
    final class Client: InterruptServiceClient {
        let calls = Locked<[(String, UInt)]>([])
        func record(_ call: String) { calls.withLock { $0.append((call, Processor.currentThread)) } }
        func serve(_ event: InterruptEvent, from source: any InterruptSource) -> UIOError? { record("serve"); return nil }
        func retryReArm(_ source: any InterruptSource) -> UIOError? { nil }
        var isMaskRequested: Bool { false }
        func reArmFailed(_ error: UIOError, source: any InterruptSource) {}
        func sourceFailed(_ error: UIOError) { record("failed") }
        func runQueuedDeferredWork() {}
        func serveReplayedInterrupts(from source: any InterruptSource) -> UIOError? { nil }
        func serviceThreadStarted() { record("started") }
        func serviceThreadEnding() { record("ending") }
        var names: [String] { calls.withLock { $0.map(\.0) } }
        var threads: Set<UInt> { calls.withLock { Set($0.map(\.1)) } }
    }

    @Test("stopped: started first, ending last, both on the thread")
    func stopped() throws {
        let source = try EventfdInterruptSource(name: "test")
        let client = Client()
        let thread = try InterruptServiceThread(name: "test-isr", source: source, client: client)
        source.raise()
        #expect(waitUntil { client.names.contains("serve") })
        thread.stop()
        #expect(client.names == ["started", "serve", "ending"])
        #expect(client.threads.count == 1)
        #expect(!client.threads.contains(Processor.currentThread))
    }

    @Test("the source closed under it: ending still comes")
    func sourceClosed() throws {
        let source = try EventfdInterruptSource(name: "test")
        let client = Client()
        let thread = try InterruptServiceThread(name: "test-isr", source: source, client: client)
        source.close()
        #expect(waitUntil { client.names.last == "ending" })
        thread.stop()
        #expect(client.names.first == "started")
        #expect(client.names.filter { $0 == "ending" }.count == 1)
    }
}
