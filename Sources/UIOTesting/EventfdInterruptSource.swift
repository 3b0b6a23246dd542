import Synchronization
import UIO
import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// An interrupt source that is not UIO: an eventfd raised by writing it, the way VFIO signals
/// each MSI or MSI-X vector. For tests of the driver layer over a second backend, and for
/// benchmarks that time the interrupt object without a device.
///
/// Masking is recorded, not enforced: a raise while masked is still delivered. A test that must
/// prove no unmask happens in some window calls ``forbidUnmasking(_:)`` around it and reads
/// ``forbiddenUnmasks``.
public final class EventfdInterruptSource: InterruptSource {
    public let name: String
    public let reArmMethod = ReArmMethod.none
    private let fd: Int32
    private let waiting: WakeableWait
    private let total = Atomic<UInt32>(0)
    private let closed = Atomic<Bool>(false)
    private let rearmCount = Atomic<Int>(0)
    private let unmasked = Atomic<Bool>(false)
    private let unmaskingForbidden = Atomic<Bool>(false)
    private let forbiddenUnmaskCount = Atomic<Int>(0)
    private let rearmDelayNanoseconds = Atomic<Int>(0)
    private let masks: Bool

    /// Whether the source says it masks when disabled (it never really does): `false` makes it
    /// stand for a maskless MSI vector.
    public var canMask: Bool { masks }

    /// A new source named `name` in messages; `canMask` false stands for a maskless MSI vector.
    public init(name: String, canMask: Bool = true) throws(UIOError) {
        self.name = name
        self.masks = canMask
        do {
            fd = try SystemCalls.live.eventfdCreate().get()
        } catch {
            throw UIOError(.systemCall, subject: name, reason: "eventfd failed", errno: error)
        }
        do {
            waiting = try WakeableWait(name: name, system: .live)
        } catch {
            _ = Glibc.close(fd)
            throw UIOError(.systemCall, subject: name, reason: "its wake-up eventfd failed: \(error)")
        }
    }

    deinit { _ = Glibc.close(fd) }

    /// Raises one interrupt: adds 1 to the eventfd (what the kernel does for an MSI).
    public func raise() { _ = SystemCalls.live.eventfdSignal(fd) }

    /// How many times the interrupt object re-armed the source.
    public var rearms: Int { rearmCount.load(ordering: .acquiring) }
    /// Whether the last of enable, disable and re-arm left the source unmasked.
    public var isUnmasked: Bool { unmasked.load(ordering: .acquiring) }
    /// Unmasks (enables or re-arms) seen while unmasking was forbidden.
    public var forbiddenUnmasks: Int { forbiddenUnmaskCount.load(ordering: .acquiring) }

    /// From now on, count every unmask as forbidden (`true`), or stop counting (`false`).
    public func forbidUnmasking(_ forbidden: Bool) { unmaskingForbidden.store(forbidden, ordering: .sequentiallyConsistent) }

    /// Makes each re-arm take `delay` before it unmasks, as a re-arm through config-space system
    /// calls takes microseconds: it widens the window a race around the re-arm needs.
    public func slowReArm(by delay: Duration) {
        rearmDelayNanoseconds.store(Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000), ordering: .relaxed)
    }

    public func wait(timeout: Duration?) throws(UIOError) -> InterruptWait {
        guard !closed.load(ordering: .acquiring) else { throw UIOError(.closed, subject: name, reason: "used after close") }
        let outcome: WakeableWait.Outcome
        do {
            outcome = try waiting.wait(on: fd, until: timeout.map { ContinuousClock.now + $0 })
        } catch {
            throw UIOError(.closed, subject: name, reason: "the wait failed: \(error)")
        }
        switch outcome {
        case .woken: return .cancelled
        case .timedOut: return .timedOut
        case .ready:
            var raised: UInt64 = 0
            guard Glibc.read(fd, &raised, 8) == 8 else { return .timedOut }  // nonblocking: already taken
            let count = total.add(UInt32(truncatingIfNeeded: raised), ordering: .relaxed).newValue
            return .interrupt(InterruptEvent(count: count, newInterrupts: UInt32(truncatingIfNeeded: raised)))
        }
    }

    public func cancel() throws(UIOError) { try? waiting.wake() }

    public func rearm() throws(UIOError) {
        rearmCount.add(1, ordering: .releasing)
        let delay = rearmDelayNanoseconds.load(ordering: .relaxed)
        if delay > 0 {
            var time = timespec(tv_sec: delay / 1_000_000_000, tv_nsec: delay % 1_000_000_000)
            nanosleep(&time, nil)
        }
        unmask()
    }

    public func enable() throws(UIOError) { unmask() }

    public func disable() throws(UIOError) { unmasked.store(false, ordering: .sequentiallyConsistent) }

    /// Interrupts taken from the eventfd by waits so far.
    public var delivered: UInt32 { total.load(ordering: .acquiring) }

    public func close() {
        closed.store(true, ordering: .releasing)
        waiting.close()
    }

    private func unmask() {
        if unmaskingForbidden.load(ordering: .sequentiallyConsistent) { forbiddenUnmaskCount.add(1, ordering: .relaxed) }
        unmasked.store(true, ordering: .sequentiallyConsistent)
    }
}
