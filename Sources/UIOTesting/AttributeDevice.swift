@_spi(Simulation) import UIO

/// A device whose sysfs attributes are a dictionary of texts: what a unit test or a fuzzer hands
/// ``UIODevice/init(reading:)`` to reach discovery's conversions without a sysfs tree.
@_spi(Simulation)
public final class AttributeDevice: SysfsDeviceSource {
    public let sysPath: String
    public let sysName: String
    public let subsystem: String?
    public let driver: String?
    public let devNode: String? = nil
    private let attributes: [String: String]
    private let links: [String: String]
    private let parent: AttributeDevice?

    /// A device at `/sys/devices/<folder>/<sysName>`; a name missing from `attributes` is an
    /// attribute the kernel did not write. `links` maps a link's name to its target's last
    /// component (`iommu_group` → `5`).
    public init(folder: String, sysName: String, subsystem: String, driver: String?,
                attributes: [String: String], links: [String: String] = [:], parent: AttributeDevice? = nil) {
        self.sysPath = "/sys/devices/\(folder)/\(sysName)"
        self.sysName = sysName
        self.subsystem = subsystem
        self.driver = driver
        self.attributes = attributes
        self.links = links
        self.parent = parent
    }

    public func attribute(_ name: String) -> String? { attributes[name] }
    public func linkTargetName(_ name: String) -> String? { links[name] }
    public var parentSource: (any SysfsDeviceSource)? { parent }
}
