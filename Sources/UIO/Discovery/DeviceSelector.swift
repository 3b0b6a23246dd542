/// Which UIO device to find.
public enum DeviceSelector: Sendable, Hashable, CustomStringConvertible {
    /// Every UIO device.
    case any
    /// `uioN` by its number.
    case number(Int)
    /// By the driver-given name (`uio_pci_generic`, `pl031-uio`).
    case name(String)
    /// By the PCI parent's vendor and, optionally, device id.
    case pci(vendor: UInt16, device: UInt16?)
    /// By the PCI parent's class code: `(classCode & mask) == value`, e.g. `0x00ff00` with
    /// mask `0xffff00` for any programming interface.
    case pciClass(UInt32, mask: UInt32 = 0xFF_FFFF)
    /// By the PCI parent's slot, `0000:00:04.0`.
    case slot(String)
    /// By the platform parent's device name, `9010000.pl031`: a device-tree node's unit
    /// address and node name, which stay apart when several nodes share a `linux,uio-name`.
    case platform(String)
    /// By sysfs path: `/sys/class/uio/uioN` or the path it links to.
    case sysPath(String)
    /// By character device path: `/dev/uioN`.
    case devicePath(String)

    /// Reads what a person types: `uio3`, `/dev/uio3`, `/sys/…`, `0000:00:04.0`, `1234:11e8`,
    /// or else a name.
    public init(_ text: String) {
        if text.hasPrefix("/dev/") {
            self = .devicePath(text)
        } else if text.hasPrefix("/sys/") {
            self = .sysPath(text)
        } else if text.hasPrefix("uio"), let n = Int(text.dropFirst(3)), n >= 0 {
            self = .number(n)
        } else if Self.isPCISlot(text) {
            self = .slot(text)
        } else if let (vendor, device) = Self.pciIDs(text) {
            self = .pci(vendor: vendor, device: device)
        } else {
            self = .name(text)
        }
    }

    /// The status and the reason, for people.
    public var description: String {
        switch self {
        case .any: "any UIO device"
        case .number(let n): "uio\(n)"
        case .name(let name): "name \"\(name)\""
        case .pci(let vendor, let device?): "PCI id \(hexDigits(vendor, 4)):\(hexDigits(device, 4))"
        case .pci(let vendor, nil): "PCI vendor \(hexDigits(vendor, 4))"
        case .pciClass(let value, let mask): "PCI class 0x\(String(value, radix: 16)) (mask 0x\(String(mask, radix: 16)))"
        case .slot(let slot): "PCI slot \(slot)"
        case .platform(let name): "platform device \(name)"
        case .sysPath(let path), .devicePath(let path): path
        }
    }

    /// Whether `device` is selected.
    public func matches(_ device: UIODevice) -> Bool {
        switch self {
        case .any: return true
        case .number(let n): return device.number == n
        case .name(let name): return device.name == name
        case .pci, .pciClass, .slot: return matchesIdentity(device.parent?.pci)
        case .platform(let name): return device.parent?.subsystem == "platform" && device.parent?.sysName == name
        case .sysPath(let path):
            return device.sysPath == path || path == "/sys/class/uio/uio\(device.number)"
        case .devicePath(let path): return device.devicePath == path
        }
    }

    /// Whether the PCI device `device` is selected, on whichever driver it is: by its ids, class,
    /// slot or sysfs path, or by the `uioN` it has. A UIO or platform device's name selects none.
    public func matches(_ device: PCIDevice) -> Bool {
        switch self {
        case .any: return true
        case .number(let n): return device.uioNumbers.contains(n)
        case .name, .platform: return false
        case .pci, .pciClass, .slot: return matchesIdentity(device.identity)
        case .sysPath(let path): return device.sysPath == path || path == "/sys/bus/pci/devices/\(device.slot)"
        case .devicePath(let path): return device.uioNumbers.contains { path == "/dev/uio\($0)" }
        }
    }

    /// Whether the selector picks devices by a PCI identity: ids, class or slot.
    var selectsByPCIIdentity: Bool {
        switch self {
        case .pci, .pciClass, .slot: true
        default: false
        }
    }

    /// Whether `pci` is selected, for a selector by ids, class or slot.
    private func matchesIdentity(_ pci: PCIIdentity?) -> Bool {
        guard let pci else { return false }
        switch self {
        case .pci(let vendor, let wanted): return pci.vendor == vendor && (wanted.map { $0 == pci.device } ?? true)
        case .pciClass(let value, let mask): return pci.classCode & mask == value & mask
        case .slot(let slot): return pci.slot.lowercased() == slot.lowercased()
        default: return false
        }
    }

    /// `dddd:bb:dd.f`
    static func isPCISlot(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2 else { return false }
        let deviceFunction = parts[2].split(separator: ".", omittingEmptySubsequences: false)
        guard deviceFunction.count == 2, deviceFunction[0].count == 2, deviceFunction[1].count == 1 else { return false }
        return [parts[0], parts[1], deviceFunction[0], deviceFunction[1]].allSatisfy { UInt32($0, radix: 16) != nil }
    }

    /// `vvvv:dddd` or `vvvv:` hexadecimal ids.
    static func pciIDs(_ text: String) -> (UInt16, UInt16?)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, let vendor = UInt16(parts[0], radix: 16) else { return nil }
        if parts[1].isEmpty { return (vendor, nil) }
        guard parts[1].count == 4, let device = UInt16(parts[1], radix: 16) else { return nil }
        return (vendor, device)
    }
}
