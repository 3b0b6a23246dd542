#if canImport(Glibc)
import Glibc
#endif

/// Binding a PCI device to a UIO driver through sysfs: `driver_override`, then `drivers_probe`.
///
/// The kernel's way to give one device to one driver without touching others of the same
/// vendor and device id (`new_id` would claim them all).
public enum PCIBinding {
    /// Binds the PCI device at `slot` (`0000:00:04.0`) to `driver` and returns its UIO device.
    /// Unbinds it from another driver first. Needs root (or write access to those files).
    public static func bind(slot: String, to driver: String = "uio_pci_generic") throws(UIOError) -> UIODevice {
        try bind(slot: slot, to: driver, system: .live, sysfs: "/sys")
    }

    /// Unbinds the PCI device at `slot` from its driver, if it has one, and clears its
    /// `driver_override`.
    public static func unbind(slot: String) throws(UIOError) {
        try unbind(slot: slot, system: .live, sysfs: "/sys")
    }

    static func bind(slot: String, to driver: String, system: SystemCalls, sysfs: String) throws(UIOError) -> UIODevice {
        let device = try devicePath(slot, sysfs: sysfs, system: system)
        guard exists("\(sysfs)/bus/pci/drivers/\(driver)", system: system) else {
            throw UIOError(.deviceNotFound, subject: driver, reason: "no such PCI driver is loaded",
                           advice: "load it first: modprobe \(driver)")
        }
        if currentDriver(device, system: system) != driver {
            if currentDriver(device, system: system) != nil { try write(slot, to: "\(device)/driver/unbind", system: system) }
            try write(driver, to: "\(device)/driver_override", system: system)
            try write(slot, to: "\(sysfs)/bus/pci/drivers_probe", system: system)
        }
        guard currentDriver(device, system: system) == driver else {
            throw UIOError(.systemCall, subject: device, reason: "\(driver) did not take the device",
                           advice: "see the kernel log (dmesg) for why the probe failed")
        }
        // devtmpfs and the uio class follow the probe; give them a moment.
        for _ in 0..<100 {
            if let uio = try UIODevice.find(.slot(slot)).first { return uio }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        throw UIOError(.deviceNotFound, subject: slot, reason: "bound to \(driver), but no UIO device appeared",
                       advice: "is \(driver) a UIO driver?")
    }

    static func unbind(slot: String, system: SystemCalls, sysfs: String) throws(UIOError) {
        let device = try devicePath(slot, sysfs: sysfs, system: system)
        if currentDriver(device, system: system) != nil { try write(slot, to: "\(device)/driver/unbind", system: system) }
        try write("\n", to: "\(device)/driver_override", system: system)
    }

    private static func devicePath(_ slot: String, sysfs: String, system: SystemCalls) throws(UIOError) -> String {
        guard DeviceSelector.isPCISlot(slot) else {
            throw UIOError(.deviceNotFound, subject: slot, reason: "is not a PCI slot", advice: "write it as domain:bus:device.function, e.g. 0000:00:04.0")
        }
        let path = "\(sysfs)/bus/pci/devices/\(slot)"
        guard exists(path, system: system) else {
            throw UIOError(.deviceNotFound, subject: path, reason: "no PCI device in this slot", advice: "lspci -D lists the slots")
        }
        return path
    }

    /// The name of the driver bound to the device, from its `driver` link.
    private static func currentDriver(_ device: String, system: SystemCalls) -> String? {
        guard case .success(let target) = system.readLink(device + "/driver") else { return nil }
        return target.split(separator: "/").last.map(String.init)
    }

    private static func exists(_ path: String, system: SystemCalls) -> Bool {
        switch system.open(path, O_RDONLY | O_DIRECTORY) {
        case .success(let fd):
            _ = system.close(fd)
            return true
        case .failure:
            return false
        }
    }

    private static func write(_ text: String, to path: String, system: SystemCalls) throws(UIOError) {
        let fd: Int32
        switch system.open(path, O_WRONLY) {
        case .success(let opened): fd = opened
        case .failure(let errno) where errno == .permissionDenied || errno == .notPermitted:
            throw UIOError(.permissionDenied, subject: path, reason: "binding needs root", errno: errno,
                           advice: "run as root (or with sudo); binding changes which driver owns the device")
        case .failure(let errno): throw UIOError.system(errno, operation: "open", subject: path)
        }
        defer { _ = system.close(fd) }
        let bytes = Array(text.utf8)
        let written = try bytes.withUnsafeBytes { buffer in
            retryingOnInterrupt { system.pwrite(fd, buffer, 0) }
        }.get(operation: "write", subject: path)
        guard written == bytes.count else {
            throw UIOError(.systemCall, subject: path, reason: "wrote \(written) of \(bytes.count) bytes")
        }
    }
}
