#if canImport(Glibc)
import Glibc
#endif

/// Gives one device on a bus to one driver through sysfs: `driver_override`, then
/// `drivers_probe`. The kernel's way to bind a single device without touching others that the
/// driver would match (`new_id`, `of_id`); ``PCIBinding`` and ``PlatformBinding`` are its faces.
struct DriverBinding {
    /// The bus's name in sysfs: `pci`, `platform`.
    let bus: String
    /// What a device on it is called in messages: "PCI device".
    let noun: String
    /// How a device on it is found among the UIO devices once bound.
    let selector: (String) -> DeviceSelector
    /// Whether a name can be a device's on this bus; others are refused before anything is
    /// read or written, with `invalidName`'s reason and advice.
    let isValidName: (String) -> Bool
    let invalidName: (reason: String, advice: String)
    /// Where to look when the name is not there.
    let listAdvice: String
    let system: SystemCalls
    let sysfs: String

    func bind(_ name: String, to driver: String) throws(UIOError) -> UIODevice {
        let device = try devicePath(name)
        guard exists("\(sysfs)/bus/\(bus)/drivers/\(driver)") else {
            throw UIOError(.deviceNotFound, subject: driver, reason: "no such \(bus) driver is loaded",
                           advice: "load it first: modprobe \(driver)")
        }
        if currentDriver(device) != driver {
            if currentDriver(device) != nil { try write(name, to: "\(device)/driver/unbind") }
            try write(driver, to: "\(device)/driver_override")
            try write(name, to: "\(sysfs)/bus/\(bus)/drivers_probe")
        }
        guard currentDriver(device) == driver else {
            throw UIOError(.systemCall, subject: device, reason: "\(driver) did not take the device",
                           advice: "see the kernel log (dmesg) for why the probe failed")
        }
        // devtmpfs and the uio class follow the probe; give them a moment.
        for _ in 0..<100 {
            if let uio = try UIODevice.find(selector(name)).first { return uio }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        throw UIOError(.deviceNotFound, subject: name, reason: "bound to \(driver), but no UIO device appeared",
                       advice: "is \(driver) a UIO driver?")
    }

    func unbind(_ name: String) throws(UIOError) {
        let device = try devicePath(name)
        if currentDriver(device) != nil { try write(name, to: "\(device)/driver/unbind") }
        try write("\n", to: "\(device)/driver_override")
    }

    private func devicePath(_ name: String) throws(UIOError) -> String {
        guard isValidName(name) else {
            throw UIOError(.deviceNotFound, subject: name, reason: invalidName.reason, advice: invalidName.advice)
        }
        let path = "\(sysfs)/bus/\(bus)/devices/\(name)"
        guard exists(path) else {
            throw UIOError(.deviceNotFound, subject: path, reason: "no \(noun)", advice: listAdvice)
        }
        return path
    }

    /// The name of the driver bound to the device, from its `driver` link.
    private func currentDriver(_ device: String) -> String? {
        guard case .success(let target) = system.readLink(device + "/driver") else { return nil }
        return target.split(separator: "/").last.map(String.init)
    }

    private func exists(_ path: String) -> Bool {
        switch system.open(path, O_RDONLY | O_DIRECTORY) {
        case .success(let fd):
            _ = system.close(fd)
            return true
        case .failure:
            return false
        }
    }

    private func write(_ text: String, to path: String) throws(UIOError) {
        let fd: Int32
        switch system.open(path, O_WRONLY) {
        case .success(let opened): fd = opened
        case .failure(let errno) where errno == .permissionDenied || errno == .notPermitted:
            throw UIOError(.permissionDenied, subject: path, reason: "binding needs root", errno: errno,
                           advice: "run as root (or with sudo); binding changes which driver owns the device")
        case .failure(let errno): throw UIOError.system(errno, operation: .accessFile, subject: path)
        }
        defer { _ = system.close(fd) }
        let bytes = Array(text.utf8)
        let written = try bytes.withUnsafeBytes { buffer in
            retryingOnInterrupt { system.pwrite(fd, buffer, 0) }
        }.get(operation: .accessFile, subject: path)
        guard written == bytes.count else {
            throw UIOError(.systemCall, subject: path, reason: "wrote \(written) of \(bytes.count) bytes")
        }
    }
}
