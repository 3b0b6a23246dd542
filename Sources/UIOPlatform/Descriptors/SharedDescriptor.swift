

/// A file descriptor that several threads use and any one of them may close.
///
/// Closing while another thread is inside ``withDescriptor(_:)`` (blocked in `poll`, say) must
/// not close the fd under it: the number could be reused by an unrelated `open` and the blocked
/// call would then read someone else's file. So ``close()`` only marks the descriptor; the last
/// user leaving closes it. New users after ``close()`` get the caller's error for a closed file.
package final class SharedDescriptor: Sendable {
    private struct State {
        var users = 0
        var closing = false
        var closed = false
    }

    package let fd: Int32
    /// What the fd is, for messages: `/dev/uio0`.
    package let path: String
    package let system: SystemCalls
    private let state = Locked(State())

    package init(fd: Int32, path: String, system: SystemCalls) {
        self.fd = fd
        self.path = path
        self.system = system
    }

    deinit {
        // No user can be inside: each holds a strong reference while it is.
        if !state.withLock({ $0.closed }) { _ = system.close(fd) }
    }

    package var isClosed: Bool { state.withLock { $0.closing } }

    /// Runs `body` with the fd, which stays open until `body` returns; throws `closedError`
    /// after ``close()``.
    @inline(__always)
    package func withDescriptor<T, E: Error>(orIfClosed closedError: @autoclosure () -> E,
                                             _ body: (Int32) throws(E) -> T) throws(E) -> T {
        let admitted = state.withLock { state in
            if state.closing { return false }
            state.users += 1
            return true
        }
        guard admitted else { throw closedError() }
        defer { leave() }
        return try body(fd)
    }

    /// Marks the descriptor closed; the fd is closed now, or when its last user leaves.
    /// Returns `false` when it was already closed (closing twice is harmless).
    @discardableResult
    package func close() -> Bool {
        let (first, closeNow) = state.withLock { state in
            if state.closing { return (false, false) }
            state.closing = true
            state.closed = state.users == 0
            return (true, state.closed)
        }
        if closeNow { _ = system.close(fd) }
        return first
    }

    private func leave() {
        let closeNow = state.withLock { state in
            state.users -= 1
            if state.closing && !state.closed && state.users == 0 {
                state.closed = true
                return true
            }
            return false
        }
        if closeNow { _ = system.close(fd) }
    }
}
