/// The kernel driver bound to a UIO device's parent, and what it decides for userspace: how the
/// interrupt is re-armed, whether its line is requested shared, and where the line's description
/// comes from.
///
/// The UIO core leaves these to the driver that registers the device, and the drivers differ
/// (drivers/uio/uio_pci_generic.c, uio_pdrv_genirq.c, uio_dmem_genirq.c). A driver this type
/// does not know is treated as uio_pdrv_genirq is: irqcontrol, flags from the firmware.
public struct KernelDriver: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The driver's name, as `/sys/bus/*/drivers` lists it.
    public let name: String

    /// The driver called `name`.
    public init(name: String) { self.name = name }

    /// uio_pci_generic: any PCI device with INTx, no irqcontrol; masks INTx in the command
    /// register in its handler and requests the line `IRQF_SHARED`.
    public static let uioPCIGeneric = KernelDriver(name: "uio_pci_generic")
    /// uio_pdrv_genirq: a platform (device-tree) device; disables the line in its handler until
    /// irqcontrol `write(1)`.
    public static let uioPdrvGenirq = KernelDriver(name: "uio_pdrv_genirq")
    /// uio_dmem_genirq: as uio_pdrv_genirq, with dynamically allocated DMA regions.
    public static let uioDmemGenirq = KernelDriver(name: "uio_dmem_genirq")

    /// The UIO driver `uioctl bind` uses for a device on `bus` (`pci` or `platform`).
    public static func generic(forBus bus: String) -> KernelDriver {
        bus == "pci" ? .uioPCIGeneric : .uioPdrvGenirq
    }

    /// How the interrupt is enabled again after the driver's handler masked it.
    public var reArmMethod: ReArmMethod {
        self == .uioPCIGeneric ? .pciInterruptDisableBit : .irqControl
    }

    /// How the driver requests its interrupt line, which decides what can be known of it.
    public enum LineRequest: Sendable, Hashable {
        /// PCI INTx, requested `IRQF_SHARED`: level-sensitive and active-low by the PCI
        /// specification; the line's number is the parent's `irq` attribute.
        case sharedPCIINTx
        /// With the flags the firmware gave (device tree, ACPI): the trigger and whether the
        /// line is shared are what `/proc/interrupts` shows for it.
        case asFirmwareDescribes
    }

    /// How the driver requests its line.
    public var lineRequest: LineRequest {
        self == .uioPCIGeneric ? .sharedPCIINTx : .asFirmwareDescribes
    }

    /// Whether the line is always requested shared, so a driver cannot have it to itself.
    public var alwaysSharesLine: Bool { lineRequest == .sharedPCIINTx }

    public var description: String { name }
}

extension ParentDevice {
    /// The bound kernel driver, as a model of what it decides; `nil` when none is bound.
    public var kernelDriver: KernelDriver? { driver.map(KernelDriver.init(name:)) }

    /// How the parent's line is requested: any PCI parent's is INTx (level-sensitive,
    /// active-low; the UIO drivers for PCI boards request it shared); otherwise the driver's.
    public var interruptLineRequest: KernelDriver.LineRequest {
        pci != nil ? .sharedPCIINTx : kernelDriver?.lineRequest ?? .asFirmwareDescribes
    }
}
