/// Finding UIO devices through libudev.
extension UIODevice {
    /// Every UIO device the system has, ordered by number.
    public static func all() throws(UIOError) -> [UIODevice] {
        try find(.any)
    }

    /// The UIO devices `selector` picks, ordered by number.
    ///
    /// A device whose attributes are malformed throws ``UIOError/Code/malformedAttribute``
    /// naming the attribute. A `sysPath` that exists but is not a UIO device throws
    /// ``UIOError/Code/notAUIODevice``.
    public static func find(_ selector: DeviceSelector) throws(UIOError) -> [UIODevice] {
        let udev = try Udev()
        if case .sysPath(let path) = selector {
            return [try device(atSysPath: path, udev: udev)]
        }
        var devices: [UIODevice] = []
        for path in try udev.sysPaths(inSubsystem: "uio") {
            // A device that vanished between listing and reading is simply not there any more.
            guard let entry = udev.device(atSysPath: path) else { continue }
            let device = try UIODevice(reading: entry)
            if selector.matches(device) { devices.append(device) }
        }
        return devices.sorted { $0.number < $1.number }
    }

    /// The one device `selector` picks; the lowest-numbered when several match.
    ///
    /// Throws ``UIOError/Code/deviceNotFound`` listing what is there instead. When PCI devices
    /// that are not on a UIO driver match the ids, class or slot, it names them, their drivers
    /// and the `uioctl bind` that puts one on uio_pci_generic.
    public static func first(_ selector: DeviceSelector) throws(UIOError) -> UIODevice {
        if let device = try find(selector).first { return device }
        if selector.selectsByPCIIdentity {
            // A PCI device that cannot be read is no help here; the plain listing follows.
            let offUIO = ((try? PCIDevice.find(selector)) ?? []).filter { !$0.isOnUIODriver }
            if !offUIO.isEmpty { throw notOnUIODriver(offUIO, selector: selector) }
        }
        let present = (try? all()) ?? []
        let listing = present.isEmpty
            ? "no UIO devices are present: load uio and a UIO driver (uio_pci_generic) and bind the device"
            : "present: " + present.map { "uio\($0.number) \"\($0.name)\"" + ($0.parent.map { " at \($0.sysName)" } ?? "") }.joined(separator: ", ")
        throw UIOError(.deviceNotFound, subject: selector.description, reason: "no such UIO device", advice: listing)
    }

    /// The error for a selector that matches only PCI devices still off UIO.
    private static func notOnUIODriver(_ devices: [PCIDevice], selector: DeviceSelector) -> UIOError {
        let named = devices.map { device in
            let ids = "\(hexDigits(device.identity.vendor, 4)):\(hexDigits(device.identity.device, 4))"
            return "\(device.slot) (\(ids), \(device.driver.map { "driver \($0)" } ?? "no driver"))"
        }
        let which = devices.count == 1 ? "the PCI device \(named[0]) matches" : "the PCI devices \(named.joined(separator: ", ")) match"
        let command = "uioctl bind \(devices[0].slot)"
        return UIOError(.deviceNotFound, subject: selector.description,
                        reason: "no such UIO device: \(which), but no UIO driver has \(devices.count == 1 ? "it" : "them")",
                        advice: "bind \(devices.count == 1 ? "it" : "one") to uio_pci_generic (as root): \(command)")
    }

    private static func device(atSysPath path: String, udev: Udev) throws(UIOError) -> UIODevice {
        guard let entry = udev.device(atSysPath: path) else {
            throw UIOError(.deviceNotFound, subject: path, reason: "no device at this sysfs path",
                           advice: "UIO devices are listed under /sys/class/uio")
        }
        guard entry.subsystem == "uio" else {
            let subsystem = entry.subsystem.map { "a \($0) device" } ?? "a device without a subsystem"
            throw UIOError(.notAUIODevice, subject: path, reason: "is \(subsystem), not a UIO device",
                           advice: "bind it to a UIO driver (uio_pci_generic) and use /sys/class/uio/uioN")
        }
        return try UIODevice(reading: entry)
    }

    /// The device's interrupt count now, read from sysfs `event` (not cached).
    public func currentEventCount() throws(UIOError) -> UInt32 {
        try SysfsFile.readEventCount(sysPath: sysPath, system: .live)
    }
}
