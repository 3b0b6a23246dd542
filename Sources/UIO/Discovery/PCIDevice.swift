/// A PCI device as sysfs shows it, whichever driver it is on: `/sys/bus/pci/devices/SLOT`.
///
/// Discovery of UIO devices sees only devices already on a UIO driver; this sees them all, so a
/// device still on its kernel driver (`e1000`) or on none can be found and bound. A value: it
/// describes the device at the moment it was read.
public struct PCIDevice: Sendable, Hashable, Identifiable, Codable {
    /// Vendor, device and subsystem ids, class code and slot.
    public let identity: PCIIdentity
    /// `/sys/devices/pci0000:00/0000:00:04.0`.
    public let sysPath: String
    /// The kernel driver bound to it now (`e1000`, `uio_pci_generic`), or `nil` when none is.
    public let driver: String?
    /// N of the `iommu_group` link's `/sys/kernel/iommu_groups/N`; `nil` without an IOMMU.
    public let iommuGroup: Int?
    /// N of each `uioN` the device has, ascending: empty unless its driver is a UIO driver.
    public let uioNumbers: [Int]

    /// Makes the value from its parts.
    public init(identity: PCIIdentity, sysPath: String, driver: String?, iommuGroup: Int?, uioNumbers: [Int]) {
        self.identity = identity
        self.sysPath = sysPath
        self.driver = driver
        self.iommuGroup = iommuGroup
        self.uioNumbers = uioNumbers
    }

    /// The slot identifies the device while it is plugged in.
    public var id: String { identity.slot }
    /// `domain:bus:device.function`, e.g. `0000:00:04.0`.
    public var slot: String { identity.slot }
    /// Whether a UIO driver has it, so that ``UIODevice`` discovery finds it.
    public var isOnUIODriver: Bool { !uioNumbers.isEmpty }
}

extension PCIDevice {
    /// Reads a PCI device's attributes from `device` (libudev's view of sysfs, or a test's);
    /// `uioNumbers` are its UIO children, which discovery finds apart. Text the kernel would
    /// never write is a ``UIOError/Code/malformedAttribute`` error.
    @_spi(Simulation)
    public init(reading device: any SysfsDeviceSource, uioNumbers: [Int]) throws(UIOError) {
        guard device.subsystem == "pci" else {
            throw UIOError(.notPCIDevice, subject: device.sysPath,
                           reason: "is \(device.subsystem.map { "a \($0) device" } ?? "a device without a subsystem"), not a PCI device")
        }
        var iommuGroup: Int?
        if let group = device.linkTargetName("iommu_group") {
            guard let number = SysfsValue.decimal(group, as: Int.self) else {
                throw UIOError.malformed(device.sysPath + "/iommu_group", value: group,
                                         expected: "a link to /sys/kernel/iommu_groups/N")
            }
            iommuGroup = number
        }
        self.init(identity: try PCIIdentity(reading: device), sysPath: device.sysPath, driver: device.driver,
                  iommuGroup: iommuGroup, uioNumbers: uioNumbers.sorted())
    }
}

extension PCIIdentity {
    /// Reads the ids and class of the PCI device `device`; its slot is its sysfs name.
    init(reading device: any SysfsDeviceSource) throws(UIOError) {
        let reader = AttributeReader(device: device)
        let id = { (name: String) throws(UIOError) -> UInt16 in
            let value = try reader.required(name, SysfsValue.hexadecimal, expected: "a 0x… 16-bit id")
            guard let id = UInt16(exactly: value) else { throw UIOError.malformed(reader.path(name), value: String(value), expected: "a 16-bit id") }
            return id
        }
        let optionalID = { (name: String) throws(UIOError) -> UInt16? in reader.exists(name) ? try id(name) : nil }
        let classCode = try reader.required(
            "class", { SysfsValue.hexadecimal($0).flatMap { $0 <= 0xFF_FFFF ? UInt32($0) : nil } },
            expected: "a 0x… 24-bit class code")
        self.init(
            vendor: try id("vendor"), device: try id("device"),
            subsystemVendor: try optionalID("subsystem_vendor"), subsystemDevice: try optionalID("subsystem_device"),
            classCode: classCode, slot: device.sysName)
    }
}
