import UIOPlatform

/// What building a ``UIODevice`` reads of a device: its sysfs names and attribute texts.
///
/// libudev's view of sysfs is the source for real devices. A test or a fuzzer supplies its own,
/// so that any attribute text reaches the same conversions discovery runs, without a sysfs tree.
@_spi(Simulation)
public protocol SysfsDeviceSource {
    /// `/sys/devices/…`.
    var sysPath: String { get }
    /// The last component of the path: `uio0`, `0000:00:04.0`, `9010000.pl031`.
    var sysName: String { get }
    /// `uio`, `pci`, `platform`, …
    var subsystem: String? { get }
    /// The bound kernel driver's name.
    var driver: String? { get }
    /// The `/dev` node, when the device has one.
    var devNode: String? { get }
    /// The attribute's text (`name`, `maps/map0/size`, `irq`), or `nil` when there is none.
    func attribute(_ name: String) -> String?
    /// The last component of the target of the device's link `name` (`iommu_group` → `5`), or
    /// `nil` when there is no such link. libudev reads only a few links as attributes.
    func linkTargetName(_ name: String) -> String?
    /// The parent device (`device/`), when sysfs links one.
    var parentSource: (any SysfsDeviceSource)? { get }
}

extension SysfsDeviceSource {
    /// No links: a source that only has attributes.
    public func linkTargetName(_ name: String) -> String? { nil }
}

extension UdevDevice: SysfsDeviceSource {
    var parentSource: (any SysfsDeviceSource)? { parent }

    func linkTargetName(_ name: String) -> String? {
        guard case .success(let target) = SystemCalls.live.readLink(sysPath + "/" + name) else { return nil }
        return target.split(separator: "/").last.map(String.init)
    }
}
