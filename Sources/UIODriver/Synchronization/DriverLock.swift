import UIOPlatform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The lock behind every framework lock: a spin lock or a wait lock that knows its owner.
///
/// Knowing the owner is what lets it enforce WDF's rules instead of deadlocking: acquiring a
/// lock the thread already holds, or releasing one it does not hold, traps with a message that
/// names the rule, as WDF's verifier breaks into the debugger.
@usableFromInline
final class DriverLock: @unchecked Sendable {
    // @unchecked: the pthread mutex is reached only through its pointer, allocated once, and
    // freed in deinit when no thread can hold the lock.

    @usableFromInline
    enum Kind: Sendable, Hashable {
        /// Spins with a cpu-relax hint, then yields: for short sections that never block. Hands
        /// the lock over in arrival order (a ticket lock, as Windows' queued spin locks do), so
        /// a thread that releases and re-acquires at once — an ISR thread in an interrupt storm —
        /// cannot starve one that waits.
        case spin
        /// Sleeps in the kernel while another thread holds it: for sections that may block.
        case wait
    }

    @usableFromInline let kind: Kind
    /// What the lock protects, for trap messages: "the interrupt lock of /dev/uio0".
    let name: String
    /// The holder's thread (`Processor.currentThread`), 0 when free.
    @usableFromInline let owner = Atomic<UInt>(0)
    /// The spin lock's tickets: the next to hand out, and the one that holds or may take it.
    @usableFromInline let nextTicket = Atomic<UInt32>(0)
    @usableFromInline let nowServing = Atomic<UInt32>(0)
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>?

    init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
        if kind == .wait {
            let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
            pthread_mutex_init(mutex, nil)
            self.mutex = mutex
        } else {
            self.mutex = nil
        }
    }

    deinit {
        if let mutex {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }
    }

    /// Whether the calling thread holds the lock.
    @inlinable var isHeldByCurrentThread: Bool { owner.load(ordering: .relaxed) == currentThread }

    /// Whether any thread holds the lock (a snapshot).
    var isHeld: Bool { owner.load(ordering: .relaxed) != 0 }

    /// Takes the lock, waiting (spinning or sleeping) while another thread holds it.
    /// `operation` names the call for the trap message: `WdfInterruptAcquireLock`.
    @inlinable @inline(__always)
    func acquire(_ operation: StaticString) {
        let me = currentThread
        if owner.load(ordering: .relaxed) == me { recursion(operation) }
        switch kind {
        case .spin:
            let ticket = nextTicket.wrappingAdd(1, ordering: .relaxed).oldValue
            var spins = 0
            while nowServing.load(ordering: .acquiring) != ticket {
                // Spin a while, then yield: past that the holder (or the next in line) is likely
                // descheduled.
                if spins < 128 {
                    Processor.relax()
                    spins += 1
                } else {
                    sched_yield()
                }
            }
            owner.store(me, ordering: .relaxed)
        case .wait:
            pthread_mutex_lock(mutex!)
            owner.store(me, ordering: .relaxed)
        }
    }

    /// Takes the lock if it is free; never waits.
    @inlinable @inline(__always)
    func tryAcquire(_ operation: StaticString) -> Bool {
        let me = currentThread
        if owner.load(ordering: .relaxed) == me { recursion(operation) }
        switch kind {
        case .spin:
            // Free with nobody in line: the next ticket is the one being served.
            let serving = nowServing.load(ordering: .acquiring)
            guard nextTicket.compareExchange(expected: serving, desired: serving &+ 1, ordering: .relaxed).exchanged else {
                return false
            }
            owner.store(me, ordering: .relaxed)
            return true
        case .wait:
            guard pthread_mutex_trylock(mutex!) == 0 else { return false }
            owner.store(me, ordering: .relaxed)
            return true
        }
    }

    /// Gives the lock up; the calling thread must hold it.
    @inlinable @inline(__always)
    func release(_ operation: StaticString) {
        let me = currentThread
        guard owner.load(ordering: .relaxed) == me else { notHeld(operation) }
        switch kind {
        case .spin:
            owner.store(0, ordering: .relaxed)
            nowServing.store(nowServing.load(ordering: .relaxed) &+ 1, ordering: .releasing)
        case .wait:
            owner.store(0, ordering: .relaxed)
            pthread_mutex_unlock(mutex!)
        }
    }

    /// Runs `body` with the lock held.
    @inlinable @inline(__always)
    func withLock<R, E: Error>(_ operation: StaticString, _ body: () throws(E) -> R) throws(E) -> R {
        acquire(operation)
        defer { release(operation) }
        return try body()
    }

    @inlinable var currentThread: UInt { Processor.currentThread }

    @usableFromInline @inline(never)
    func recursion(_ operation: StaticString) -> Never {
        fatalError("\(operation): \(name) is already held by this thread. Framework locks are not recursive: "
                   + "do not acquire it again, nor inside this interrupt's own ISR, EvtInterruptEnable or EvtInterruptDisable, "
                   + "which run with it held.")
    }

    @usableFromInline @inline(never)
    func notHeld(_ operation: StaticString) -> Never {
        fatalError("\(operation): \(name) is not held by this thread. Release only a lock you acquired.")
    }
}
