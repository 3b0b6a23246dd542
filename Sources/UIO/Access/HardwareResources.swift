/// What the kernel gave a claimed device: its memory maps, its interrupt line and, for a PCI
/// device, its config space.
///
/// The counterpart of the resource lists WDF hands `EvtDevicePrepareHardware`. ``UIOHandle``
/// provides a real device's resources; `UIOTesting.SimulatedDevice` provides simulated ones, so a
/// driver written against this protocol runs unchanged in its unit tests.
public protocol HardwareResources: AnyObject, Sendable {
    /// The device as discovery described it.
    var device: UIODevice { get }
    /// Whether the device is still there; marked when the kernel reports it gone.
    var liveness: DeviceLiveness { get }
    /// Starts noticing the device's removal without an interrupt line; ``liveness`` tells.
    func watchForRemoval() throws(UIOError)
    /// Maps memory map `index`.
    func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion
    /// Opens the PCI config space.
    func configSpace() throws(UIOError) -> ConfigSpace
    /// Opens the interrupt line, with the re-arm method the bound kernel driver needs unless
    /// `reArm` names one.
    func interruptLine(reArm: ReArmMethod?) throws(UIOError) -> InterruptLine
    /// Releases the device. Idempotent.
    func close()
}

extension HardwareResources {
    /// No watcher: a removal is noticed by the interrupt line alone.
    public func watchForRemoval() throws(UIOError) {}
}

extension UIOHandle: HardwareResources {}
