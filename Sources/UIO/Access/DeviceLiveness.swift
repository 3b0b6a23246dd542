import UIOPlatform
import Synchronization

/// Whether a claimed device is still there, shared by everything made from one ``UIOHandle``.
///
/// Set when the kernel reports the device gone: by the interrupt line (`EIO`, `POLLERR`) or, for
/// a device without one in use, by the handle's removal watcher. From then on checked register
/// accesses throw ``UIOError/Code/deviceRemoved`` instead of touching memory that no longer
/// belongs to a device, and the device's mappings are replaced with memory that reads all-ones
/// (what a PCI read of a device that is gone returns), so a bare ``Register`` access racing the
/// removal reads `0xff…` instead of raising `SIGBUS`.
public final class DeviceLiveness: Sendable {
    @usableFromInline let removed = Atomic<Bool>(false)
    private let actions = Locked<[@Sendable () -> Void]?>([])

    public init() {}

    /// Whether the device was reported gone.
    @inlinable public var isRemoved: Bool { removed.load(ordering: .relaxed) }

    /// Records that the device is gone and runs what ``whenRemoved(_:)`` registered, once, on
    /// the calling thread. Idempotent.
    public func markRemoved() {
        removed.store(true, ordering: .relaxed)
        let due = actions.withLock { actions in
            defer { actions = nil }
            return actions ?? []
        }
        due.forEach { $0() }
    }

    /// Runs `action` when the device is reported gone (at once if it already was).
    public func whenRemoved(_ action: @escaping @Sendable () -> Void) {
        let now = actions.withLock { actions in
            guard actions != nil else { return true }
            actions!.append(action)
            return false
        }
        if now { action() }
    }
}
