import CLibudev
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A libudev context, owned. libudev objects are not thread-safe, so each discovery makes its
/// own context and drops it when done.
final class Udev {
    let context: OpaquePointer

    init() throws(UIOError) {
        guard let context = udev_new() else {
            throw UIOError(.systemCall, subject: "libudev", reason: "udev_new failed", errno: Errno(rawValue: Glibc.errno))
        }
        self.context = context
    }

    deinit { udev_unref(context) }

    /// The sysfs paths of every device in `subsystem`, in the order libudev lists them.
    func sysPaths(inSubsystem subsystem: String) throws(UIOError) -> [String] {
        guard let enumerate = udev_enumerate_new(context) else {
            throw UIOError(.systemCall, subject: "libudev", reason: "udev_enumerate_new failed")
        }
        defer { udev_enumerate_unref(enumerate) }
        udev_enumerate_add_match_subsystem(enumerate, subsystem)
        let status = udev_enumerate_scan_devices(enumerate)
        guard status >= 0 else {
            throw UIOError(.systemCall, subject: "libudev", reason: "scanning \(subsystem) devices failed", errno: Errno(rawValue: -status))
        }
        var paths: [String] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let name = udev_list_entry_get_name(current) { paths.append(String(cString: name)) }
            entry = udev_list_entry_get_next(current)
        }
        return paths
    }

    /// The device at `sysPath`, or `nil` when sysfs has nothing there.
    func device(atSysPath sysPath: String) -> UdevDevice? {
        udev_device_new_from_syspath(context, sysPath).map(UdevDevice.init(owning:))
    }
}

/// A libudev device, owned; read-only accessors over its sysfs view.
final class UdevDevice {
    private let handle: OpaquePointer
    private let owned: Bool

    init(owning handle: OpaquePointer) {
        self.handle = handle
        self.owned = true
    }

    /// A parent returned by libudev belongs to its child: keep the child alive alongside.
    private init(borrowing handle: OpaquePointer, from child: UdevDevice) {
        self.handle = handle
        self.owned = false
        self.child = child
    }

    private var child: UdevDevice?

    deinit { if owned { udev_device_unref(handle) } }

    var sysPath: String { string(udev_device_get_syspath(handle)) ?? "" }
    var sysName: String { string(udev_device_get_sysname(handle)) ?? "" }
    var sysNumber: String? { string(udev_device_get_sysnum(handle)) }
    var subsystem: String? { string(udev_device_get_subsystem(handle)) }
    var driver: String? { string(udev_device_get_driver(handle)) }
    var devNode: String? { string(udev_device_get_devnode(handle)) }
    /// The uevent's action, for a device a monitor received.
    var action: String? { string(udev_device_get_action(handle)) }

    /// A uevent property (`DEVNAME`, `MAJOR`, …).
    func property(_ name: String) -> String? { string(udev_device_get_property_value(handle, name)) }

    /// The attribute's text, or `nil` when the device has no such attribute.
    func attribute(_ name: String) -> String? {
        string(udev_device_get_sysattr_value(handle, name))
    }

    var parent: UdevDevice? {
        udev_device_get_parent(handle).map { UdevDevice(borrowing: $0, from: self) }
    }

    private func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
