/// What the kernel gave a claimed device: its memory regions, its interrupt vectors and, for a
/// PCI device, its config space.
///
/// The counterpart of the resource lists WDF hands `EvtDevicePrepareHardware`. ``UIOHandle``
/// provides a UIO device's resources (``UIOResources``), ``VFIOHandle`` a vfio-pci device's;
/// `UIOTesting.SimulatedDevice` provides simulated ones, so a driver written against this
/// protocol runs unchanged on either backend and in its unit tests.
public protocol HardwareResources: AnyObject, Sendable {
    /// What the device is, for messages: `/dev/uio0`, `vfio 0000:00:10.0`.
    var name: String { get }
    /// The start of the names of the device's threads: `uio0` (the kernel keeps 15 characters
    /// of a thread's name).
    var threadPrefix: String { get }
    /// The PCI function or platform device behind the resources, as sysfs described it.
    var parent: ParentDevice? { get }
    /// Whether the device's interrupts are always requested shared, so a driver cannot have a
    /// vector to itself.
    var alwaysSharesInterrupts: Bool { get }
    /// Whether the device is still there; marked when the kernel reports it gone.
    var liveness: DeviceLiveness { get }
    /// Starts noticing the device's removal without an interrupt; ``liveness`` tells.
    func watchForRemoval() throws(UIOError)
    /// Maps memory region `index`: UIO map `index`, or PCI BAR `index` on VFIO.
    func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion
    /// Opens the PCI config space.
    func configSpace() throws(UIOError) -> ConfigSpace
    /// How many interrupt vectors the device has: one on UIO, one per MSI or MSI-X message on
    /// VFIO.
    var interruptVectorCount: Int { get }
    /// Opens vector `vector`'s interrupt source (vectors count from 0); what an interrupt object
    /// connects to.
    func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource
    /// What the kernel says about vector `vector`: its Linux interrupt, whether it is a message.
    func interruptDescription(vector: Int) -> InterruptDescription
    /// The CPUs the kernel delivers vector `vector`'s interrupt to, where the ISR thread can be
    /// placed; `nil` when the kernel does not say.
    func interruptDeliveryCPUs(vector: Int) -> [Int]?
    /// Whether the device's interrupts reach the driver only with Bus Master on (an MSI is a
    /// memory write), so the framework turns it on at D0 entry.
    var interruptsNeedBusMastering: Bool { get }
    /// Memory the device reaches by DMA: `length` bytes whose device address is a multiple of
    /// `alignment` and whose last byte's device address is at most `addressLimit`. On UIO, huge
    /// pages at their physical address (``HugePageDMAMemory``); on VFIO, memory the IOMMU maps
    /// for the device (``IOMMUDMAMemory``). Drivers take memory through UIODriver's DMA enabler,
    /// which keeps it until Bus Master is off; this is the backend's side.
    func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer
    /// Releases the device. Idempotent.
    func close()
}

/// The resources of a UIO device: its `/dev/uioN` node and its one interrupt line.
public protocol UIOResources: HardwareResources {
    /// The device as discovery described it.
    var device: UIODevice { get }
    /// Opens the interrupt line, with the re-arm method the bound kernel driver needs unless
    /// `reArm` names one.
    func interruptLine(reArm: ReArmMethod?) throws(UIOError) -> InterruptLine
}

extension HardwareResources {
    /// No watcher: a removal is noticed by the interrupts alone.
    public func watchForRemoval() throws(UIOError) {}

    /// Only an MSI needs Bus Master; a line does not.
    public var interruptsNeedBusMastering: Bool { false }
}

extension UIOResources {
    /// The device's node.
    public var name: String { device.devicePath }

    /// `uio` and the device's number.
    public var threadPrefix: String { "uio\(device.number)" }

    /// The UIO device's parent.
    public var parent: ParentDevice? { device.parent }

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

    /// The parent's line, as its `irq` attribute and `/proc/interrupts` describe it.
    public func interruptDescription(vector: Int) -> InterruptDescription {
        .line(of: device, kernel: KernelIRQ.read(for: device))
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

    /// Huge pages of the process's one ``HugePageDMAMemory`` (the real kernel's, whatever the
    /// conforming type; a test double that must not touch them implements its own).
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        try HugePageDMAMemory.shared.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
    }
}

extension UIOHandle: UIOResources {
    /// Huge pages through the handle's system calls (a simulated kernel answers a simulated
    /// device's).
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        guard !isClosed else { throw UIOError.closed(device.devicePath) }
        return try dmaMemory.allocate(length: length, alignment: alignment, addressLimit: addressLimit)
    }
}
