import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A wait for a file to become ready that any thread can end early: `ppoll` on the file and an
/// eventfd of the wait's own.
///
/// One rule for every waiter: when the file is ready and a wake-up arrives together, the file
/// comes first and the wake-up ends the next wait. Nothing the file had ready is dropped, and a
/// stream of ready events cannot hold a wake-up off for more than one wait.
package final class WakeableWait: Sendable {
    /// How a wait ended.
    package enum Outcome: Sendable, Equatable {
        /// The file is ready; `events` is its `revents` (`POLLIN`, `POLLERR`, …).
        case ready(events: Int16)
        /// ``wake()`` was called.
        case woken
        /// The deadline passed.
        case timedOut
    }

    /// Why a wait or a wake-up failed.
    package enum Failure: Error, Equatable {
        /// ``close()`` came first.
        case closed
        /// `ppoll` or the eventfd failed.
        case system(Errno)
    }

    private let wakeFD: SharedDescriptor
    /// A wake-up that arrived with a ready file: the next wait returns it.
    private let wakePending = Atomic<Bool>(false)

    /// A wait with a new eventfd; `name` says whose, for messages.
    package init(name: String, system: SystemCalls) throws(Errno) {
        let fd = try system.eventfdCreate().get()
        wakeFD = SharedDescriptor(fd: fd, path: name + " (wake-up eventfd)", system: system)
    }

    /// Blocks until `fd` is ready, ``wake()`` is called, or `deadline` passes (`nil`: never).
    /// `EINTR` is retried.
    package func wait(on fd: Int32, until deadline: ContinuousClock.Instant?) throws(Failure) -> Outcome {
        if wakePending.exchange(false, ordering: .relaxed) { return .woken }
        return try wakeFD.withDescriptor(orIfClosed: Failure.closed) { wake throws(Failure) in
            let system = wakeFD.system
            while true {
                let remaining = deadline.map(nanosecondsLeft(until:)) ?? -1
                switch system.pollPair(fd, wake, remaining) {
                case .failure(.interrupted):
                    continue
                case .failure(let errno):
                    throw .system(errno)
                case .success(nil):
                    return .timedOut
                case .success(let outcome?):
                    let woken = outcome.wake & Int16(POLLIN) != 0
                    if woken { _ = system.eventfdDrain(wake) }
                    if outcome.interrupt != 0 {
                        if woken { wakePending.store(true, ordering: .relaxed) }
                        return .ready(events: outcome.interrupt)
                    }
                    if woken { return .woken }
                }
            }
        }
    }

    /// Blocks until `fd` reports `POLLERR` or `POLLHUP` (`true`) or ``wake()`` is called
    /// (`false`); the file becoming readable does not end it. `EINTR` is retried.
    package func waitForHangUp(on fd: Int32) throws(Failure) -> Bool {
        if wakePending.exchange(false, ordering: .relaxed) { return false }
        return try wakeFD.withDescriptor(orIfClosed: Failure.closed) { wake throws(Failure) in
            while true {
                switch wakeFD.system.pollRemoval(fd, wake) {
                case .failure(.interrupted): continue
                case .failure(let errno): throw .system(errno)
                case .success(true): return true
                case .success(false):
                    _ = wakeFD.system.eventfdDrain(wake)
                    return false
                }
            }
        }
    }

    /// Ends the wait under way, or the next one if none is. Safe from any thread.
    package func wake() throws(Failure) {
        try wakeFD.withDescriptor(orIfClosed: Failure.closed) { wake throws(Failure) in
            if case .failure(let errno) = wakeFD.system.eventfdSignal(wake) { throw .system(errno) }
        }
    }

    /// Wakes any waiter and closes the eventfd once it has left. Idempotent.
    package func close() {
        try? wake()
        wakeFD.close()
    }
}
