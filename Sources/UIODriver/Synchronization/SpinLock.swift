/// A framework spin lock (`WDFSPINLOCK`, `WdfSpinLockCreate`).
///
/// Give one to ``InterruptConfig/spinLock`` to have several interrupts share one interrupt
/// lock, or use it on its own. Holding it never sleeps: keep sections short. Not recursive.
/// Waiters take it in arrival order, like a queued spin lock.
public final class SpinLock: Sendable {
    @usableFromInline let lock: DriverLock

    /// `WdfSpinLockCreate`. `name` appears in trap messages.
    public init(name: String = "a framework spin lock") {
        lock = DriverLock(kind: .spin, name: name)
    }

    /// `WdfSpinLockAcquire`.
    @inlinable public func acquire() { lock.acquire("WdfSpinLockAcquire") }

    /// `WdfSpinLockRelease`; the calling thread must hold the lock.
    @inlinable public func release() { lock.release("WdfSpinLockRelease") }

    /// Runs `body` with the lock held.
    @inlinable public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withLock("WdfSpinLockAcquire", body)
    }
}

/// A framework wait lock (`WDFWAITLOCK`, `WdfWaitLockCreate`): sleeps instead of spinning.
///
/// Give one to ``InterruptConfig/waitLock`` for an interrupt with passive handling. Not
/// recursive.
public final class WaitLock: Sendable {
    let lock: DriverLock

    /// `WdfWaitLockCreate`. `name` appears in trap messages.
    public init(name: String = "a framework wait lock") {
        lock = DriverLock(kind: .wait, name: name)
    }

    /// `WdfWaitLockAcquire` with no timeout.
    public func acquire() { lock.acquire("WdfWaitLockAcquire") }

    /// `WdfWaitLockAcquire` with a zero timeout: takes the lock only if it is free.
    public func tryAcquire() -> Bool { lock.tryAcquire("WdfWaitLockAcquire") }

    /// `WdfWaitLockRelease`; the calling thread must hold the lock.
    public func release() { lock.release("WdfWaitLockRelease") }

    /// Runs `body` with the lock held.
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withLock("WdfWaitLockAcquire", body)
    }
}
