/// One memory map of a UIO device: `/sys/class/uio/uioN/maps/mapK`.
///
/// Mirrors the kernel's `struct uio_mem`. Map `index` is selected by `mmap` at offset
/// `index × page size`; the device's registers start `offset` bytes into that mapping.
public struct MemoryMap: Sendable, Hashable, Codable {
    /// K in `mapK`.
    public let index: Int
    /// The map's name, when the driver gave one.
    public let name: String?
    /// The physical (or kernel logical) address the driver reported.
    public let address: UInt64
    /// The map's length in bytes.
    public let size: UInt64
    /// Where the map starts inside its first page.
    public let offset: UInt64

    /// A map as sysfs describes it.
    public init(index: Int, name: String?, address: UInt64, size: UInt64, offset: UInt64) {
        self.index = index
        self.name = name
        self.address = address
        self.size = size
        self.offset = offset
    }
}

/// One port I/O region of a UIO device: `/sys/class/uio/uioN/portio/portK` (`struct uio_port`).
public struct PortRegion: Sendable, Hashable, Codable {
    /// K in `portK`.
    public let index: Int
    /// The region's name, when the driver gave one.
    public let name: String?
    /// The first port.
    public let start: UInt64
    /// The number of ports.
    public let size: UInt64
    /// `port_x86`, `port_gpio`, `port_other` or `none`.
    public let portType: String

    /// A port region as sysfs describes it.
    public init(index: Int, name: String?, start: UInt64, size: UInt64, portType: String) {
        self.index = index
        self.name = name
        self.start = start
        self.size = size
        self.portType = portType
    }
}

/// The identity of a PCI parent, read from its sysfs attributes.
public struct PCIIdentity: Sendable, Hashable, Codable {
    /// The vendor id (`vendor`).
    public let vendor: UInt16
    /// The device id (`device`).
    public let device: UInt16
    /// The subsystem vendor id, when sysfs has one.
    public let subsystemVendor: UInt16?
    /// The subsystem device id, when sysfs has one.
    public let subsystemDevice: UInt16?
    /// The 24-bit class code: base class, sub-class, programming interface.
    public let classCode: UInt32
    /// The slot, `domain:bus:device.function`, e.g. `0000:00:04.0`.
    public let slot: String

    /// A PCI identity as sysfs describes it.
    public init(vendor: UInt16, device: UInt16, subsystemVendor: UInt16?, subsystemDevice: UInt16?, classCode: UInt32, slot: String) {
        self.vendor = vendor
        self.device = device
        self.subsystemVendor = subsystemVendor
        self.subsystemDevice = subsystemDevice
        self.classCode = classCode
        self.slot = slot
    }
}

/// The device a UIO device belongs to: `/sys/class/uio/uioN/device`.
public struct ParentDevice: Sendable, Hashable, Codable {
    /// `pci`, `platform`, …
    public let subsystem: String
    /// The parent's sysfs name: the PCI slot, or the platform device's name.
    public let sysName: String
    /// The parent's sysfs path.
    public let sysPath: String
    /// The kernel driver bound to the parent (`uio_pci_generic`, `uio_pdrv_genirq`, …).
    public let driver: String?
    /// The legacy interrupt line from the parent's `irq` attribute, when it has one.
    public let irq: Int?
    /// Vendor, device, class and slot for a PCI parent; `nil` otherwise.
    public let pci: PCIIdentity?

    /// A parent as sysfs describes it.
    public init(subsystem: String, sysName: String, sysPath: String, driver: String?, irq: Int?, pci: PCIIdentity?) {
        self.subsystem = subsystem
        self.sysName = sysName
        self.sysPath = sysPath
        self.driver = driver
        self.irq = irq
        self.pci = pci
    }
}
