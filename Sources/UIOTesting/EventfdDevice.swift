import UIO

/// A device whose interrupt vectors are eventfds (``EventfdInterruptSource``), as VFIO's MSI-X
/// vectors are; its maps, config space and identity are a ``SimulatedDevice``'s.
public final class EventfdDevice: UIOResources {
    /// The device behind everything but the interrupts.
    public let simulated: SimulatedDevice
    /// One source per vector.
    public let sources: [EventfdInterruptSource]

    /// A device with `vectors` interrupt vectors; `canMask` false makes them stand for maskless
    /// MSI vectors.
    public init(vectors: Int = 1, canMask: Bool = true) throws {
        simulated = try SimulatedDevice(kernelDriver: .unmasked)
        sources = try (0..<vectors).map { vector throws(UIOError) in try EventfdInterruptSource(name: "vector \(vector)", canMask: canMask) }
    }

    public var device: UIODevice { simulated.device }
    public var liveness: DeviceLiveness { simulated.liveness }
    public func mapRegion(_ index: Int) throws(UIOError) -> MappedRegion { try simulated.mapRegion(index) }
    public func configSpace() throws(UIOError) -> ConfigSpace { try simulated.configSpace() }
    public func interruptLine(reArm: ReArmMethod?) throws(UIOError) -> InterruptLine { try simulated.interruptLine(reArm: reArm) }
    public func close() { simulated.close() }
    /// DMA memory from the simulated device's simulated huge pages.
    public func allocateDMAMemory(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        try simulated.allocateDMAMemory(length: length, alignment: alignment, addressLimit: addressLimit)
    }
    public var interruptVectorCount: Int { sources.count }
    /// Message `vector`, as VFIO's MSI-X vectors are; the kernel lists none.
    public func interruptDescription(vector: Int) -> InterruptDescription { InterruptDescription(message: UInt32(vector), kernel: nil) }
    /// The simulated device's delivery CPUs, for every vector.
    public func interruptDeliveryCPUs(vector: Int) -> [Int]? { simulated.interruptDeliveryCPUs(vector: vector) }
    public func interruptSource(vector: Int) throws(UIOError) -> any InterruptSource {
        guard sources.indices.contains(vector) else {
            throw UIOError(.noSuchRegion, subject: device.devicePath, reason: "has no interrupt vector \(vector); it has \(sources.count)")
        }
        return sources[vector]
    }
}
