import UIO

/// What `uioctl list --all` prints: every PCI device, grouped by the driver it is on, as
/// `dpdk-devbind --status` groups them.
extension DeviceListing {
    /// The groups, in the order printed: what a UIO driver has, what another kernel driver has,
    /// what no driver has.
    public enum PCIDriverGroup: CaseIterable, Sendable {
        case uioDriver, kernelDriver, noDriver

        /// The group `device` is in.
        public init(_ device: PCIDevice) {
            self = device.isOnUIODriver ? .uioDriver : device.driver == nil ? .noDriver : .kernelDriver
        }

        /// The group's heading.
        public var title: String {
            switch self {
            case .uioDriver: "PCI devices on a UIO driver"
            case .kernelDriver: "PCI devices on another kernel driver"
            case .noDriver: "PCI devices with no driver"
            }
        }
    }

    /// Each group under its underlined heading, one line a device: slot, vendor:device, class,
    /// driver, IOMMU group and the UIO devices. Columns line up across the groups; an empty
    /// group says `none`.
    public static func pciStatus(_ devices: [PCIDevice]) -> String {
        let header = ["SLOT", "ID", "CLASS", "DRIVER", "IOMMU", "UIO"]
        let rows = devices.map { device in
            [
                device.slot,
                "\(hexDigits(device.identity.vendor, 4)):\(hexDigits(device.identity.device, 4))",
                "0x\(hexDigits(UInt64(device.identity.classCode), 6))",
                device.driver ?? "-",
                device.iommuGroup.map(String.init) ?? "-",
                device.uioNumbers.isEmpty ? "-" : device.uioNumbers.map { "uio\($0)" }.joined(separator: ","),
            ]
        }
        let lines = align([header] + rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let headerLine = lines[0]
        let deviceLines = Array(lines.dropFirst())
        return PCIDriverGroup.allCases.map { group in
            let members = devices.indices.filter { PCIDriverGroup(devices[$0]) == group }.map { deviceLines[$0] }
            let body = members.isEmpty ? ["none"] : [headerLine] + members
            return ([group.title, String(repeating: "=", count: group.title.count)] + body).joined(separator: "\n")
        }.joined(separator: "\n\n")
    }
}
