/// A UIO device as discovery found it: `/sys/class/uio/uioN` and its parent.
///
/// Mirrors the kernel's `struct uio_info` as sysfs shows it. A value: it describes the device
/// at the moment it was read. ``open(exclusive:)`` claims the device for this process.
public struct UIODevice: Sendable, Hashable, Identifiable, Codable {
    /// N in `uioN`.
    public let number: Int
    /// The driver-given name (`uio_pci_generic`, or a device tree's `linux,uio-name`).
    public let name: String
    /// The driver-given version (`0.01.0`, `devicetree`, …).
    public let version: String
    /// The device's interrupt count when it was discovered.
    public let eventCount: UInt32
    /// The memory maps, in index order.
    public let maps: [MemoryMap]
    /// The port I/O regions, in index order.
    public let portRegions: [PortRegion]
    /// The character device, `/dev/uioN`.
    public let devicePath: String
    /// `/sys/devices/…/uio/uioN`.
    public let sysPath: String
    /// The device the UIO device belongs to, when sysfs links one.
    public let parent: ParentDevice?

    /// The device's number identifies it while it exists.
    public var id: Int { number }

    /// Makes the value from its parts.
    public init(
        number: Int, name: String, version: String, eventCount: UInt32, maps: [MemoryMap],
        portRegions: [PortRegion], devicePath: String, sysPath: String, parent: ParentDevice?
    ) {
        self.number = number
        self.name = name
        self.version = version
        self.eventCount = eventCount
        self.maps = maps
        self.portRegions = portRegions
        self.devicePath = devicePath
        self.sysPath = sysPath
        self.parent = parent
    }
}

extension UIODevice {
    /// Reads a UIO device's attributes from `device` (libudev's view of sysfs, or a test's).
    /// Text the kernel would never write is a ``UIOError/Code/malformedAttribute`` error.
    @_spi(Simulation)
    public init(reading device: any SysfsDeviceSource) throws(UIOError) {
        let reader = AttributeReader(device: device)
        let sysName = device.sysName
        guard sysName.hasPrefix("uio"), let number = Int(sysName.dropFirst(3)), number >= 0 else {
            throw UIOError(.notAUIODevice, subject: device.sysPath, reason: "is not named uioN")
        }
        self.number = number
        self.name = try reader.required("name", SysfsValue.line, expected: "a non-empty name")
        self.version = try reader.required("version", SysfsValue.line, expected: "a non-empty version")
        self.eventCount = try reader.required("event", { SysfsValue.decimal($0, as: UInt32.self) }, expected: "a decimal 32-bit count")
        self.maps = try Self.readMaps(reader)
        self.portRegions = try Self.readPortRegions(reader)
        self.devicePath = device.devNode ?? "/dev/\(sysName)"
        self.sysPath = device.sysPath
        self.parent = try device.parentSource.map { parent throws(UIOError) in try ParentDevice(reading: parent) }
    }

    /// `maps/map0`, `maps/map1`, …: the kernel stops at the first empty map, so the indices
    /// are contiguous.
    private static func readMaps(_ reader: AttributeReader) throws(UIOError) -> [MemoryMap] {
        var maps: [MemoryMap] = []
        while true {
            let prefix = "maps/map\(maps.count)/"
            guard reader.exists(prefix + "size") else { return maps }
            maps.append(MemoryMap(
                index: maps.count,
                name: reader.optional(prefix + "name", SysfsValue.line),
                address: try reader.required(prefix + "addr", SysfsValue.hexadecimal, expected: "a 0x… address"),
                size: try reader.required(prefix + "size", SysfsValue.hexadecimal, expected: "a 0x… size"),
                offset: try reader.required(prefix + "offset", SysfsValue.hexadecimal, expected: "a 0x… offset")))
        }
    }

    private static func readPortRegions(_ reader: AttributeReader) throws(UIOError) -> [PortRegion] {
        var regions: [PortRegion] = []
        while true {
            let prefix = "portio/port\(regions.count)/"
            guard reader.exists(prefix + "size") else { return regions }
            regions.append(PortRegion(
                index: regions.count,
                name: reader.optional(prefix + "name", SysfsValue.line),
                start: try reader.required(prefix + "start", SysfsValue.hexadecimal, expected: "a 0x… port"),
                size: try reader.required(prefix + "size", SysfsValue.hexadecimal, expected: "a 0x… size"),
                portType: try reader.required(prefix + "porttype", SysfsValue.line, expected: "a port type")))
        }
    }
}

extension ParentDevice {
    init(reading device: any SysfsDeviceSource) throws(UIOError) {
        let reader = AttributeReader(device: device)
        let subsystem = device.subsystem ?? ""
        let pci = subsystem == "pci" ? try PCIIdentity(reading: device) : nil
        var irq: Int?
        if reader.exists("irq") {
            irq = try reader.required("irq", { SysfsValue.decimal($0, as: Int.self) }, expected: "a decimal irq number")
        }
        self.init(
            subsystem: subsystem, sysName: device.sysName, sysPath: device.sysPath,
            driver: device.driver, irq: irq, pci: pci)
    }
}

/// Reads and parses one device's attributes, naming the attribute's path in every error.
struct AttributeReader {
    let device: any SysfsDeviceSource

    func path(_ name: String) -> String { device.sysPath + "/" + name }

    func exists(_ name: String) -> Bool { device.attribute(name) != nil }

    func optional<T>(_ name: String, _ parse: (String) -> T?) -> T? {
        device.attribute(name).flatMap(parse)
    }

    func required<T>(_ name: String, _ parse: (String) -> T?, expected: String) throws(UIOError) -> T {
        guard let text = device.attribute(name) else {
            throw UIOError(.malformedAttribute, subject: path(name), reason: "is missing",
                           advice: "the kernel always writes this attribute; a mocked or damaged sysfs tree is likely")
        }
        guard let value = parse(text) else { throw UIOError.malformed(path(name), value: text, expected: expected) }
        return value
    }
}
