/// What the kernel gave a claimed device: its memory maps, its interrupt vectors and, for a PCI
/// device, its config space.
///
/// The counterpart of the resource lists WDF hands `EvtDevicePrepareHardware`. ``UIOHandle``
/// provides a real device's resources; `UIOTesting.SimulatedDevice` provides simulated ones, so a
/// driver written against this protocol runs unchanged in its unit tests.
public protocol HardwareResources: AnyObject, Sendable {
    /// The device as discovery described it.
    var device: UIODevice { get }
    /// What the device is, for messages: `/dev/uio0`.
    var name: String { get }
    /// The start of the names of the device's threads: `uio0` (the kernel keeps 15 characters
    /// of a thread's name).
    var threadPrefix: String { get }
    /// Whether the device's interrupts are always requested shared, so a driver cannot have a
    /// vector to itself.
    var alwaysSharesInterrupts: Bool { get }
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
    /// How many interrupt vectors the device has: one on UIO, one per MSI-X entry on a backend
    /// that has them.
    var interruptVectorCount: Int { get }
    /// Opens vector `vector`'s interrupt source (vectors count from 0); what an interrupt object
    /// connects to.
    func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource
    /// The CPUs the kernel delivers vector `vector`'s interrupt to, where the ISR thread can be
    /// placed; `nil` when the kernel does not say.
    func interruptDeliveryCPUs(vector: Int) -> [Int]?
    /// Memory the device reaches by DMA: `length` bytes whose device address is a multiple of
    /// `alignment` and whose last byte's device address is at most `addressLimit`. On UIO, huge
    /// pages at their physical address (``HugePageDMAMemory``); an IOMMU backend maps memory for
    /// the device instead. Drivers take memory through UIODriver's DMA enabler, which keeps it
    /// until Bus Master is off; this is the backend's side.
    func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer
    /// Releases the device. Idempotent.
    func close()
}

extension HardwareResources {
    /// No watcher: a removal is noticed by the interrupt line alone.
    public func watchForRemoval() throws(UIOError) {}

    /// The device's node.
    public var name: String { device.devicePath }

    /// `uio` and the device's number.
    public var threadPrefix: String { "uio\(device.number)" }

    /// What the bound kernel driver decides (``KernelDriver/alwaysSharesLine``).
    public var alwaysSharesInterrupts: Bool { device.parent?.kernelDriver?.alwaysSharesLine ?? false }

    /// UIO's one vector.
    public var interruptVectorCount: Int { 1 }

    /// The device's line's effective affinity from `/proc/irq` (its allowed CPUs where the
    /// kernel reports no effective one).
    public func interruptDeliveryCPUs(vector: Int) -> [Int]? {
        guard vector == 0, let cpus = KernelIRQ.read(for: device)?.deliveryCPUs, !cpus.isEmpty else { return nil }
        return cpus
    }

    /// Vector 0 is the device's interrupt line (with the re-arm method its kernel driver needs);
    /// any other is ``UIOError/Code/noSuchRegion``.
    public func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource {
        guard vector == 0 else {
            throw UIOError(.noSuchRegion, subject: device.devicePath, reason: "has no interrupt vector \(vector); UIO gives a device one",
                           advice: "create one interrupt object per device on UIO")
        }
        return try interruptLine(reArm: nil)
    }
}

extension HardwareResources {
    /// Huge pages of the process's one ``HugePageDMAMemory`` (the real kernel's, whatever the
    /// conforming type; a test double that must not touch them implements its own).
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        try HugePageDMAMemory.shared.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
    }
}

extension UIOHandle: HardwareResources {
    /// Huge pages through the handle's system calls (a simulated kernel answers a simulated
    /// device's).
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        guard !isClosed else { throw UIOError.closed(device.devicePath) }
        return try dmaMemory.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
    }
}
