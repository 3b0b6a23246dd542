/// Any object of the framework: what WDF calls a framework object handle.
///
/// Only a ``Device`` or a ``Queue`` may parent an ``Interrupt``; passing another object is
/// ``DriverError/Status/parentAssignmentNotAllowed``, as in WDF.
public protocol FrameworkObject: AnyObject, Sendable {
    /// The device the object belongs to.
    var device: Device { get }
}

/// The level a device's or queue's callbacks run at (`WDF_EXECUTION_LEVEL`).
///
/// In userspace nothing runs at raised IRQL; the level decides which locks an object's callbacks
/// take (a spin lock at dispatch, a wait lock at passive) and so which interrupt callbacks may be
/// serialized with them.
public enum ExecutionLevel: Sendable, Hashable {
    /// `WdfExecutionLevelInheritFromParent`: a device's parent is the driver, which runs at
    /// dispatch; a queue inherits its device's level.
    case inheritFromParent
    /// `WdfExecutionLevelPassive`: callbacks may block; synchronization uses a wait lock.
    case passive
    /// `WdfExecutionLevelDispatch`: callbacks must not block; synchronization uses a spin lock.
    case dispatch
}
