import UIOPlatform
/// Binding a PCI device to a UIO driver through sysfs: `driver_override`, then `drivers_probe`.
///
/// The kernel's way to give one device to one driver without touching others of the same
/// vendor and device id (`new_id` would claim them all).
public enum PCIBinding {
    /// Binds the PCI device at `slot` (`0000:00:04.0`) to `driver` and returns its UIO device.
    /// Unbinds it from another driver first, unless that driver is using it (a network interface
    /// up, a file system mounted: ``UIOError/Code-swift.enum/deviceInUse``) and `force` is false.
    /// When the new driver does not take the device, the old one gets it back. Needs root (or
    /// write access to those files).
    public static func bind(slot: String, to driver: String = KernelDriver.uioPCIGeneric.name, force: Bool = false) throws(UIOError) -> UIODevice {
        try bind(slot: slot, to: driver, force: force, system: .live, sysfs: "/sys")
    }

    /// Unbinds the PCI device at `slot` from its driver, if it has one, and clears its
    /// `driver_override`. Refuses a device its driver is using unless `force`.
    public static func unbind(slot: String, force: Bool = false) throws(UIOError) {
        try unbind(slot: slot, force: force, system: .live, sysfs: "/sys")
    }

    static func bind(slot: String, to driver: String, force: Bool = false, system: SystemCalls, sysfs: String) throws(UIOError) -> UIODevice {
        try binding(system: system, sysfs: sysfs).bind(slot, to: driver, force: force)
    }

    static func unbind(slot: String, force: Bool = false, system: SystemCalls, sysfs: String) throws(UIOError) {
        try binding(system: system, sysfs: sysfs).unbind(slot, force: force)
    }

    static func binding(system: SystemCalls, sysfs: String) -> DriverBinding {
        DriverBinding(
            bus: "pci", noun: "PCI device in this slot", selector: DeviceSelector.slot,
            isValidName: DeviceSelector.isPCISlot,
            invalidName: ("is not a PCI slot", "write it as domain:bus:device.function, e.g. 0000:00:04.0"),
            listAdvice: "lspci -D lists the slots", system: system, sysfs: sysfs)
    }
}
