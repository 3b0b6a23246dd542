import UIO

/// The device's Plug and Play and power callbacks (`WDF_PNPPOWER_EVENT_CALLBACKS`).
///
/// The order, as WDF calls them: ``prepareHardware`` → ``d0Entry`` → interrupts enabled →
/// (working) → interrupts disabled → ``d0Exit`` → ``releaseHardware``. On surprise removal,
/// ``surpriseRemoval`` comes first, then the same way down.
public struct DeviceCallbacks: Sendable {
    /// `EvtDevicePrepareHardware`: map registers, read the config space; interrupts may still be
    /// created here. A thrown error fails ``Device/start()``.
    public var prepareHardware: (@Sendable (_ device: Device, _ resources: any HardwareResources) throws -> Void)?
    /// `EvtDeviceD0Entry`: bring the device to its working state. Interrupts are connected but
    /// not yet enabled. A thrown error fails ``Device/start()``.
    public var d0Entry: (@Sendable (_ device: Device) throws -> Void)?
    /// `EvtDeviceD0Exit`: interrupts are already disabled and their threads stopped.
    public var d0Exit: (@Sendable (_ device: Device) -> Void)?
    /// `EvtDeviceReleaseHardware`: undo ``prepareHardware``.
    public var releaseHardware: (@Sendable (_ device: Device) -> Void)?
    /// `EvtDeviceSurpriseRemoval`: the device went away (or failed) while working. Called first,
    /// on a thread of its own; hardware access from here on fails with typed errors.
    public var surpriseRemoval: (@Sendable (_ device: Device, _ reason: UIOError) -> Void)?

    /// Callbacks; any left out does nothing.
    public init(
        prepareHardware: (@Sendable (Device, any HardwareResources) throws -> Void)? = nil,
        d0Entry: (@Sendable (Device) throws -> Void)? = nil,
        d0Exit: (@Sendable (Device) -> Void)? = nil,
        releaseHardware: (@Sendable (Device) -> Void)? = nil,
        surpriseRemoval: (@Sendable (Device, UIOError) -> Void)? = nil
    ) {
        self.prepareHardware = prepareHardware
        self.d0Entry = d0Entry
        self.d0Exit = d0Exit
        self.releaseHardware = releaseHardware
        self.surpriseRemoval = surpriseRemoval
    }
}
