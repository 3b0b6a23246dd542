import Synchronization

/// Whether a claimed device is still there, shared by everything made from one ``UIOHandle``.
///
/// The interrupt line sets it when the kernel reports the device gone (`EIO`, `POLLERR`); from
/// then on checked register accesses throw ``UIOError/Code/deviceRemoved`` instead of touching
/// memory that no longer belongs to a device. A check cannot close the race with an unplug that
/// lands between it and the access: such an access reads all-ones on PCI (a master abort), and a
/// mapping the kernel tore down raises `SIGBUS`.
public final class DeviceLiveness: Sendable {
    @usableFromInline let removed = Atomic<Bool>(false)

    public init() {}

    /// Whether the device was reported gone.
    @inlinable public var isRemoved: Bool { removed.load(ordering: .relaxed) }

    /// Records that the device is gone. Idempotent.
    public func markRemoved() { removed.store(true, ordering: .relaxed) }
}
