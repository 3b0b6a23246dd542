import CUIOShim
import Synchronization

/// The kernel's wait queue keyed by a 32-bit word: what lets a lock park a waiter instead of
/// spinning, and wake it when the word changes.
public enum Futex {
    /// Sleeps while `word` holds `expected`. Returns at once if it no longer does; may also
    /// return spuriously (a signal), so callers re-check in a loop.
    @inline(never)
    public static func wait(_ word: UnsafeMutablePointer<Atomic<UInt32>>, whileEqualTo expected: UInt32) {
        _ = cuio_futex_wait(UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self), expected)
    }

    /// Wakes every thread sleeping on `word`.
    @inline(never)
    public static func wakeAll(_ word: UnsafeMutablePointer<Atomic<UInt32>>) {
        _ = cuio_futex_wake(UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self), Int32.max)
    }
}
