import CBaselines
import Foundation

extension Thread {
    /// Starts `body` on a new thread.
    static func start(_ body: @escaping @Sendable () -> Void) {
        Thread.detachNewThread(body)
    }
}

enum Contention {
    /// Runs `body` on this thread and on a second one at the same time; returns when both end.
    static func run(_ body: @escaping @Sendable () -> Void) {
        let done = UnsafeSendable(baseline_event_create()!)
        Thread.detachNewThread {
            body()
            baseline_event_signal(done.value)
        }
        body()
        baseline_event_wait(done.value)
        baseline_event_destroy(done.value)
    }
}
