@_spi(Simulation) import UIO
@_spi(Simulation) import UIOTesting

/// A UIO device and its parent whose attribute texts are the fuzzer's: the input's NUL-separated
/// fields, in the order of `uioAttributes` then `parentAttributes`. A name past the last field is
/// absent, as an attribute the kernel did not write.
enum FuzzedDevice {
    static let uioAttributes = [
        "name", "version", "event",
        "maps/map0/size", "maps/map0/name", "maps/map0/addr", "maps/map0/offset",
        "maps/map1/size", "maps/map1/addr", "maps/map1/offset",
        "portio/port0/size", "portio/port0/name", "portio/port0/start", "portio/port0/porttype",
    ]
    static let parentAttributes = ["vendor", "device", "subsystem_vendor", "subsystem_device", "class", "irq"]

    /// The UIO device: the first field is its sysfs name (`uioN` when the input is kind), the
    /// next choose the parent's subsystem (PCI unless it starts with `p`), the rest are attributes.
    static func device(_ text: String) -> AttributeDevice {
        var fields = text.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)[...]
        let sysName = fields.popFirst() ?? ""
        let subsystem = fields.popFirst()?.hasPrefix("p") == true ? "platform" : "pci"
        let own = Array(fields.prefix(uioAttributes.count))
        let parent = AttributeDevice(
            folder: "fuzzed", sysName: "0000:00:04.0", subsystem: subsystem, driver: "uio_pci_generic",
            attributes: Dictionary(uniqueKeysWithValues: zip(parentAttributes, fields.dropFirst(own.count))))
        return AttributeDevice(folder: "fuzzed", sysName: sysName, subsystem: "uio", driver: nil,
                               attributes: Dictionary(uniqueKeysWithValues: zip(uioAttributes, own)), parent: parent)
    }
}
