import Synchronization

/// A file descriptor that several threads use and any one of them may close.
///
/// Closing while another thread is inside ``withDescriptor(_:)`` (blocked in `poll`, say) must
/// not close the fd under it: the number could be reused by an unrelated `open` and the blocked
/// call would then read someone else's file. So ``close()`` only marks the descriptor; the last
/// user leaving closes it. New users after ``close()`` get the caller's error for a closed file.
package final class SharedDescriptor: Sendable {
    /// Users inside ``withDescriptor(orIfClosed:_:)`` in the low bits, and two flags: one atomic
    /// word, so entering and leaving cost one atomic add each, not a mutex (the ISR thread uses
    /// descriptors several times per interrupt).
    private let state = Atomic<UInt>(0)
    private static let closing: UInt = 1 << (UInt.bitWidth - 1)
    private static let closed: UInt = 1 << (UInt.bitWidth - 2)
    private static let users: UInt = closed - 1

    package let fd: Int32
    /// What the fd is, for messages: `/dev/uio0`.
    package let path: String
    package let system: SystemCalls

    package init(fd: Int32, path: String, system: SystemCalls) {
        self.fd = fd
        self.path = path
        self.system = system
    }

    deinit {
        // No user can be inside: each holds a strong reference while it is.
        if state.load(ordering: .acquiring) & Self.closed == 0 { _ = system.close(fd) }
    }

    package var isClosed: Bool { state.load(ordering: .acquiring) & Self.closing != 0 }

    /// Runs `body` with the fd, which stays open until `body` returns; throws `closedError`
    /// after ``close()``.
    @inline(__always)
    package func withDescriptor<T, E: Error>(orIfClosed closedError: @autoclosure () -> E,
                                             _ body: (Int32) throws(E) -> T) throws(E) -> T {
        // Count ourselves in first, then look at the flag: a closer that set it before our add
        // sees us leave and closes on our way out; one after it waits for us.
        let before = state.wrappingAdd(1, ordering: .acquiring).oldValue
        defer { leave() }
        guard before & Self.closing == 0 else { throw closedError() }
        return try body(fd)
    }

    /// Marks the descriptor closed; closes the fd now if nobody is using it, else when the last
    /// user leaves. `true` for the first call, `false` when it was already closed.
    @discardableResult
    package func close() -> Bool {
        let before = state.bitwiseOr(Self.closing, ordering: .acquiringAndReleasing).oldValue
        guard before & Self.closing == 0 else { return false }
        if before & Self.users == 0 { closeIfLast(Self.closing) }
        return true
    }

    private func leave() {
        let after = state.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
        if after == Self.closing { closeIfLast(after) }
    }

    /// Closes the fd if the state is still `expected` (closing, no users, not closed): exactly
    /// one of the threads that saw it that way wins.
    private func closeIfLast(_ expected: UInt) {
        if state.compareExchange(expected: expected, desired: expected | Self.closed, ordering: .acquiringAndReleasing).exchanged {
            _ = system.close(fd)
        }
    }
}
