import UIOPlatform
/// Binding a platform device (a device-tree node) to a UIO driver through sysfs:
/// `driver_override`, then `drivers_probe`.
///
/// With an override, `uio_pdrv_genirq` takes a node whatever its `compatible` and without an
/// `of_id`: it names the UIO device after the node's `linux,uio-name` (or the node's name) and
/// maps its `reg` and `interrupts` as usual. Unbinding from the node's kernel driver first hands
/// a device that Linux drives to userspace.
public enum PlatformBinding {
    /// Binds the platform device `name` (`9010000.pl031`, as in `/sys/bus/platform/devices`) to
    /// `driver` and returns its UIO device. Unbinds it from another driver first, unless that
    /// driver is using it (``UIOError/Code-swift.enum/deviceInUse``) and `force` is false. When the
    /// new driver does not take the device, the old one gets it back. Needs root (or write access
    /// to those files).
    public static func bind(device name: String, to driver: String = KernelDriver.uioPdrvGenirq.name, force: Bool = false) throws(UIOError) -> UIODevice {
        try bind(device: name, to: driver, force: force, system: .live, sysfs: "/sys")
    }

    /// Unbinds the platform device `name` from its driver, if it has one, and clears its
    /// `driver_override`. Refuses a device its driver is using unless `force`.
    public static func unbind(device name: String, force: Bool = false) throws(UIOError) {
        try unbind(device: name, force: force, system: .live, sysfs: "/sys")
    }

    static func bind(device name: String, to driver: String, force: Bool = false, system: SystemCalls, sysfs: String) throws(UIOError) -> UIODevice {
        try binding(system: system, sysfs: sysfs).bind(name, to: driver, force: force)
    }

    static func unbind(device name: String, force: Bool = false, system: SystemCalls, sysfs: String) throws(UIOError) {
        try binding(system: system, sysfs: sysfs).unbind(name, force: force)
    }

    static func binding(system: SystemCalls, sysfs: String) -> DriverBinding {
        DriverBinding(
            bus: "platform", noun: "platform device by this name", selector: DeviceSelector.platform,
            isValidName: isDeviceName,
            invalidName: ("is not a platform device's name", "use a name from /sys/bus/platform/devices, e.g. 9010000.pl031"),
            listAdvice: "ls /sys/bus/platform/devices lists them", system: system, sysfs: sysfs)
    }

    /// One path component: not empty, no `/`, not `.` or `..`.
    static func isDeviceName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".." && !name.contains("\0")
    }
}
