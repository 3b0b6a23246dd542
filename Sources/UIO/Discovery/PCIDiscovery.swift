/// Finding PCI devices through libudev, on whichever driver they are.
extension PCIDevice {
    /// Every PCI device the system has, ordered by slot.
    public static func all() throws(UIOError) -> [PCIDevice] {
        try find(.any)
    }

    /// The PCI devices `selector` picks, ordered by slot: by ids, class, slot or sysfs path, or
    /// by the `uioN` a device has.
    ///
    /// A device whose attributes are malformed throws ``UIOError/Code/malformedAttribute``
    /// naming the attribute.
    public static func find(_ selector: DeviceSelector) throws(UIOError) -> [PCIDevice] {
        let udev = try Udev()
        let uioNumbers = try uioNumbersByParent(udev)
        var devices: [PCIDevice] = []
        for path in try udev.sysPaths(inSubsystem: "pci") {
            // A device that vanished between listing and reading is simply not there any more.
            guard let entry = udev.device(atSysPath: path) else { continue }
            let device = try PCIDevice(reading: entry, uioNumbers: uioNumbers[entry.sysPath] ?? [])
            if selector.matches(device) { devices.append(device) }
        }
        return devices.sorted { $0.slot < $1.slot }
    }

    /// N of every `uioN`, by its parent's sysfs path. Only the names are read: a UIO device with
    /// malformed attributes still shows which PCI device it belongs to.
    private static func uioNumbersByParent(_ udev: Udev) throws(UIOError) -> [String: [Int]] {
        var numbers: [String: [Int]] = [:]
        for path in try udev.sysPaths(inSubsystem: "uio") {
            guard let entry = udev.device(atSysPath: path), let parent = entry.parent,
                  entry.sysName.hasPrefix("uio"), let number = Int(entry.sysName.dropFirst(3)), number >= 0 else { continue }
            numbers[parent.sysPath, default: []].append(number)
        }
        return numbers
    }
}
