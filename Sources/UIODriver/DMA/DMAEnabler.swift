import UIO
import UIOPlatform

/// A device's DMA capability (`WDFDMAENABLER`), from which its common buffers come.
///
/// Created in device add or `EvtDevicePrepareHardware` (`WdfDmaEnablerCreate`). A device with a
/// DMA enabler gets PCI Bus Master Enable turned on before `EvtDeviceD0Entry` and off after
/// `EvtDeviceD0Exit`; its common buffers stay allocated until then, so the device can never write
/// into memory that was freed: the device lets go of them after Bus Master is off and the device
/// is released, and the memory goes when the driver lets go too.
///
/// On UIO nothing stands between the device and memory: a device with Bus Master on can write
/// anywhere in physical memory, whatever buffer it was given. The common buffers are where a
/// correct device writes; VFIO, with an IOMMU, is what confines an incorrect one.
///
/// An enabler belongs to its device and does not keep it alive (a driver may keep the enabler in
/// the device's context without a cycle): once the device object is gone its calls throw
/// ``DriverError/Status/invalidDeviceState``, and ``device`` traps.
public final class DMAEnabler: FrameworkObject, Sendable {
    private struct WeakDevice: @unchecked Sendable {
        // @unchecked: written once, at init; a weak load is safe from any thread.
        weak var device: Device?
    }
    private let owner: WeakDevice

    /// The device whose DMA this is.
    public var device: Device {
        guard let device = owner.device else { fatalError("DMAEnabler.device: the enabler's device object is gone") }
        return device
    }

    /// The device, or `invalidDeviceState` once it is gone.
    private func liveDevice(_ what: String) throws(DriverError) -> Device {
        guard let device = owner.device else {
            throw DriverError(.invalidDeviceState, "\(what): the enabler's device object is gone")
        }
        return device
    }
    /// What the device's DMA can do.
    public let config: DMAEnablerConfig
    private let buffers = Locked(Buffers())

    private struct Buffers {
        var held: [CommonBuffer] = []
        /// The device has stopped and let go: no buffer is taken any more.
        var released = false
        /// The Bus Master losses counted when this enabler last looked.
        var lossesSeen: UInt64 = 0
    }

    /// Memory a device may still reach because Bus Master could not be turned off: never freed.
    private static let quarantined = Locked<[DMABuffer]>([])

    /// `WdfDmaEnablerCreate`: the DMA capability of `device`, described by `config`.
    public init(device: Device, config: DMAEnablerConfig) throws(DriverError) {
        if let problem = config.problem() { throw DriverError(.invalidParameter, "DMA enabler: \(problem)") }
        self.owner = WeakDevice(device: device)
        self.config = config
        try device.attach(self)
    }

    /// `WdfDmaEnablerGetMaximumLength`.
    public var maximumLength: Int { config.maximumLength }

    /// `WdfCommonBufferCreate`: `length` bytes the driver and the device share, aligned to
    /// `alignment` or the config's alignment, whichever is larger, below the device's address
    /// width, physically contiguous. Allowed until the device stops. As in WDF, the enabler's
    /// maximum length bounds transfers, not common buffers (a descriptor ring may be longer).
    ///
    /// Allocate common buffers once, in device add or prepare hardware, and reuse them, as WDF
    /// drivers do: they are freed only after the device has stopped.
    public func createCommonBuffer(length: Int, alignment: Int? = nil) throws(DriverError) -> CommonBuffer {
        let alignment = alignment ?? config.alignment
        guard length > 0 else {
            throw DriverError(.invalidParameter, "a common buffer of \(length) bytes: it must hold at least one")
        }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw DriverError(.invalidParameter, "a common buffer aligned to \(alignment) bytes: the alignment must be a power of two")
        }
        let device = try liveDevice("WdfCommonBufferCreate")
        try device.requireAlive(for: "common buffers are created")
        let memory: DMABuffer
        do {
            memory = try device.resources.allocateDMAMemory(length: length, alignment: max(alignment, config.alignment),
                                                           addressLimit: config.highestAddress)
        } catch {
            let status: DriverError.Status = switch error.code {
            case .permissionDenied: .accessDenied
            case .dmaMemoryUnavailable, .addressBeyondDeviceReach: .insufficientResources
            case .outOfBounds: .invalidParameter  // longer than memory, or aligned beyond a huge page
            default: .deviceError
            }
            throw DriverError(status, "WdfCommonBufferCreate of \(length) bytes for \(config.addressWidth)-bit DMA: \(error)", underlying: error)
        }
        let buffer = CommonBuffer(memory: memory)
        let taken = buffers.withLock { buffers in
            guard !buffers.released else { return false }
            buffers.held.append(buffer)
            return true
        }
        // The device stopped while the memory was found: it is freed here, never given out.
        guard taken else { throw DriverError(.invalidDeviceState, "common buffers are created while the device lives; it stopped") }
        return buffer
    }

    /// The common buffers the device holds.
    public var commonBufferCount: Int { buffers.withLock { $0.held.count } }

    /// Whether the device may have lost a DMA since the last call (or since D0 entry): Bus Master
    /// was found turned off under the driver — uio_pci_generic turns it off whenever any open file
    /// of the device closes, a second program's included. If it is off, it is turned back on.
    ///
    /// Call it where a transfer completes, before trusting its data: `true` means the device may
    /// have dropped the transfer (its completion interrupt arrives, its data does not) and it must
    /// be made again. One read of the command register when nothing was lost. Each enabler keeps
    /// its own count, so two enablers of one device are both told. Always `false` for a device
    /// that is not PCI, or before D0 entry; after the device stops, Bus Master is off for good and
    /// this throws ``DriverError/Status/invalidDeviceState``.
    public func busMasterWasLost() throws(DriverError) -> Bool {
        let device = try liveDevice("checking Bus Master")
        guard let configSpace = device.busMasterConfigSpace else {
            try device.requireAlive(for: "Bus Master is checked")
            return false
        }
        let count: UInt64
        do {
            count = try configSpace.checkBusMastering()
        } catch {
            throw DriverError.device(error, while: "checking Bus Master")
        }
        let lost = buffers.withLock { buffers in
            // Two callers may read the count in either order: the count seen only grows.
            defer { buffers.lossesSeen = max(buffers.lossesSeen, count) }
            return count > buffers.lossesSeen
        }
        if lost {
            device.logger.error("Bus Master was turned off under the driver (another open file of \(device.resources.name) closed?); DMA since then may not have landed; turned back on")
        }
        return lost
    }

    /// Bus Master went on with `count` losses counted so far.
    func busMasteringStarted(lossCount count: UInt64) {
        buffers.withLock { $0.lossesSeen = count }
    }

    /// The device has stopped: let go of the buffers — to be freed when the driver lets go too,
    /// if Bus Master is off (`busMasterOff`), or never, if the device may still reach them.
    func releaseBuffers(busMasterOff: Bool) {
        let held = buffers.withLock { buffers in
            defer {
                buffers.held.removeAll()
                buffers.released = true
            }
            return buffers.held
        }
        if !busMasterOff && !held.isEmpty {
            Self.quarantined.withLock { $0 += held.map(\.memory) }
            owner.device?.logger.error("\(held.reduce(0) { $0 + $1.length }) bytes of DMA memory kept for good: the device may still reach them")
        }
    }
}
