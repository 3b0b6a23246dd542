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
    // @unchecked: the futex word and the pthread mutex are reached only through their pointers,
    // allocated once and freed in deinit, when no thread can hold the lock.

    @usableFromInline
    enum Kind: Sendable, Hashable {
        /// Spins briefly with a cpu-relax hint, then parks on a futex: for short sections that
        /// never block. Hands the lock over in arrival order (a ticket lock, as Windows' queued
        /// spin locks do), so a thread that releases and re-acquires at once — an ISR thread in
        /// an interrupt storm — cannot starve one that waits. Parking is what a kernel spin lock
        /// never needs and a userspace one does: its holder can be preempted, and a waiter that
        /// kept spinning would burn its CPU for the holder's whole time off it.
        case spin
        /// Sleeps in the kernel while another thread holds it: for sections that may block.
        case wait
    }

    @usableFromInline let kind: Kind
    /// What the lock protects, for trap messages: "the interrupt lock of /dev/uio0".
    let name: String
    /// The holder's thread (`Processor.currentThread`), 0 when free.
    @usableFromInline let owner = Atomic<UInt>(0)
    /// The spin lock's next ticket to hand out (its low 16 bits are the ticket).
    @usableFromInline let nextTicket = Atomic<UInt32>(0)
    /// The spin lock's futex word: the ticket that holds or may take the lock in the high 16 bits,
    /// the number of parked waiters in the low 16. One word, so a release learns whether to wake
    /// anyone from the same atomic add that hands the lock on. Sixteen bits bound the lock to
    /// 65,535 threads waiting at once, far beyond any interrupt's.
    @usableFromInline let turn: UnsafeMutablePointer<Atomic<UInt32>>
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>?

    init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
        turn = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: 1)
        turn.initialize(to: Atomic(0))
        if kind == .wait {
            let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
            pthread_mutex_init(mutex, nil)
            self.mutex = mutex
        } else {
            self.mutex = nil
        }
    }

    deinit {
        turn.deinitialize(count: 1)
        turn.deallocate()
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
            let ticket = UInt16(truncatingIfNeeded: nextTicket.wrappingAdd(1, ordering: .relaxed).oldValue)
            if Self.serving(turn.pointee.load(ordering: .acquiring)) != ticket { waitForTurn(ticket) }
            owner.store(me, ordering: .relaxed)
            OperationCounts.countLockAcquisition()
        case .wait:
            pthread_mutex_lock(mutex!)
            owner.store(me, ordering: .relaxed)
            OperationCounts.countLockAcquisition()
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
            let serving = Self.serving(turn.pointee.load(ordering: .acquiring))
            let next = nextTicket.load(ordering: .relaxed)
            guard UInt16(truncatingIfNeeded: next) == serving,
                  nextTicket.compareExchange(expected: next, desired: next &+ 1, ordering: .acquiring).exchanged else {
                return false
            }
            owner.store(me, ordering: .relaxed)
            OperationCounts.countLockAcquisition()
            return true
        case .wait:
            guard pthread_mutex_trylock(mutex!) == 0 else { return false }
            owner.store(me, ordering: .relaxed)
            OperationCounts.countLockAcquisition()
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
            let before = turn.pointee.wrappingAdd(Self.oneTurn, ordering: .releasing).oldValue
            if Self.parkedWaiters(before) != 0 { Futex.wakeAll(turn) }
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

    /// Adding it to the futex word serves the next ticket; the carry out of the top is dropped,
    /// so tickets wrap at 16 bits, as `nextTicket`'s low half does.
    @usableFromInline static let oneTurn: UInt32 = 1 << 16
    /// Relax hints before a waiter parks: about the length of a short critical section; past
    /// that the holder is more likely preempted than busy.
    static let spinsBeforeParking = 256

    @inlinable static func serving(_ word: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: word >> 16) }
    @inlinable static func parkedWaiters(_ word: UInt32) -> UInt32 { word & 0xFFFF }

    /// The spin lock's slow path: spin a little, then sleep on the futex word until `ticket` is
    /// served. Each release while waiters are parked wakes them all; those not next sleep again.
    @usableFromInline @inline(never)
    func waitForTurn(_ ticket: UInt16) {
        for _ in 0..<Self.spinsBeforeParking {
            Processor.relax()
            if Self.serving(turn.pointee.load(ordering: .acquiring)) == ticket { return }
        }
        // Counting ourselves in and reading the turn are one atomic add, so a release either
        // sees the count or we see its turn: no wake-up is lost.
        var word = turn.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        while Self.serving(word) != ticket {
            Futex.wait(turn, whileEqualTo: word)
            word = turn.pointee.load(ordering: .acquiring)
        }
        turn.pointee.wrappingSubtract(1, ordering: .relaxed)
    }

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
