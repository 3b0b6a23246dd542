import Dispatch
import Synchronization
import SystemPackage
import Testing
import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The shared descriptor's one atomic word: the fd is closed exactly once, never under a user.
@Suite("Shared descriptor")
struct SharedDescriptorTests {
    struct Closed: Error {}

    /// A seam whose `close` counts, and fails the test if a user is inside at that moment.
    final class Watch: Sendable {
        let closes = Atomic<Int>(0)
        let inside = Atomic<Int>(0)
        let closedUnderAUser = Atomic<Bool>(false)
        var system: SystemCalls {
            var calls = SystemCalls.live
            calls.close = { [self] fd in
                if inside.load(ordering: .sequentiallyConsistent) > 0 { closedUnderAUser.store(true, ordering: .relaxed) }
                closes.add(1, ordering: .relaxed)
                return SystemCalls.live.close(fd)
            }
            return calls
        }
    }

    @Test("four threads using it while a fifth closes: closed once, after the last user left; later uses get the caller's error")
    func closeUnderUse() throws {
        for _ in 0..<50 {
            let watch = Watch()
            let descriptor = SharedDescriptor(fd: try SystemCalls.live.eventfdCreate().get(), path: "test eventfd", system: watch.system)
            DispatchQueue.concurrentPerform(iterations: 5) { thread in
                if thread == 4 {
                    usleep(50)
                    descriptor.close()
                } else {
                    Self.use(descriptor, times: 200, watch: watch)
                }
            }
            let (closes, closedUnderAUser) = (watch.closes.load(ordering: .relaxed), watch.closedUnderAUser.load(ordering: .relaxed))
            #expect(closes == 1)
            #expect(!closedUnderAUser)
            #expect(descriptor.isClosed)
            #expect(throws: Closed.self) { try descriptor.withDescriptor(orIfClosed: Closed()) { (_: Int32) throws(Closed) in } }
            #expect(!descriptor.close(), "a second close is not the first")
        }
    }

    @Test("a descriptor never closed is closed when released")
    func closedOnRelease() throws {
        let watch = Watch()
        do {
            let descriptor = SharedDescriptor(fd: try SystemCalls.live.eventfdCreate().get(), path: "test eventfd", system: watch.system)
            try descriptor.withDescriptor(orIfClosed: Closed()) { (_: Int32) throws(Closed) in }
        }
        let closes = watch.closes.load(ordering: .relaxed)
        #expect(closes == 1)
    }

    /// Uses the descriptor `times` times, checking the fd is open each time; refusals (after the
    /// close) are what a late user gets.
    static func use(_ descriptor: SharedDescriptor, times: Int, watch: Watch) {
        for _ in 0..<times {
            try? descriptor.withDescriptor(orIfClosed: Closed()) { (fd: Int32) throws(Closed) in
                watch.inside.add(1, ordering: .sequentiallyConsistent)
                let open = fcntl(fd, F_GETFD) >= 0
                watch.inside.subtract(1, ordering: .sequentiallyConsistent)
                #expect(open, "the fd is open while a user holds it")
            }
        }
    }
}
