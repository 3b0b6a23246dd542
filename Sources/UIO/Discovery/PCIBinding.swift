import UIOPlatform
#if canImport(Glibc)
import Glibc
#endif
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

    /// Binds the PCI device at `slot` to vfio-pci, as ``bind(slot:to:force:)`` binds to a UIO
    /// driver, and returns it once its IOMMU group's node (`/dev/vfio/N`) is there. The group's
    /// other devices must be on vfio-pci or no driver before it can be opened (``VFIOHandle``
    /// says which are not).
    public static func bindToVFIO(slot: String, force: Bool = false) throws(UIOError) -> PCIDevice {
        try bindToVFIO(slot: slot, force: force, system: .live, sysfs: "/sys", devices: "/dev")
    }

    static func bindToVFIO(slot: String, force: Bool, system: SystemCalls, sysfs: String, devices: String) throws(UIOError) -> PCIDevice {
        try binding(system: system, sysfs: sysfs).bind(slot, to: vfioDriver, force: force) { () throws(UIOError) in
            // devtmpfs makes the group's node after the probe; give it a moment.
            for _ in 0..<100 {
                if let device = try PCIDevice.find(.slot(slot)).first, let group = device.iommuGroup,
                   (try? system.pathStatus("\(devices)/vfio/\(group)").get()) != nil
                    || (try? system.pathStatus("\(devices)/vfio/noiommu-\(group)").get()) != nil {
                    return device
                }
                var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
                nanosleep(&pause, nil)
            }
            throw UIOError(.deviceNotFound, subject: slot, reason: "bound to vfio-pci, but no /dev/vfio node for its IOMMU group appeared",
                           advice: "is the IOMMU on (intel_iommu=on, amd_iommu=on)? Without one, vfio-pci binds only in no-IOMMU mode")
        }
    }

    /// The kernel driver VFIO's PCI devices are bound to.
    public static let vfioDriver = "vfio-pci"

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
