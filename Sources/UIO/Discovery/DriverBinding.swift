import UIOPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Gives one device on a bus to one driver through sysfs: `driver_override`, then
/// `drivers_probe`. The kernel's way to bind a single device without touching others that the
/// driver would match (`new_id`, `of_id`); ``PCIBinding`` and ``PlatformBinding`` are its faces.
///
/// All or nothing: when the new driver does not take the device, or takes it without making a
/// UIO device, the device goes back to the driver it had, with the `driver_override` it had.
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
    /// Where the mounts are listed, to see whether the device's disks are in use.
    var mountInfo = "/proc/self/mountinfo"
    /// The UIO device of a bound device, once the uio class has made it.
    var findUIO: (String) throws(UIOError) -> UIODevice?

    init(bus: String, noun: String, selector: @escaping (String) -> DeviceSelector, isValidName: @escaping (String) -> Bool,
         invalidName: (reason: String, advice: String), listAdvice: String, system: SystemCalls, sysfs: String) {
        self.bus = bus
        self.noun = noun
        self.selector = selector
        self.isValidName = isValidName
        self.invalidName = invalidName
        self.listAdvice = listAdvice
        self.system = system
        self.sysfs = sysfs
        self.findUIO = { name throws(UIOError) in try UIODevice.find(selector(name)).first }
    }

    /// Binds the device `name` to `driver` and returns its UIO device. Refuses a device whose
    /// kernel driver is serving it (``DeviceUsage``) unless `force`.
    func bind(_ name: String, to driver: String, force: Bool = false) throws(UIOError) -> UIODevice {
        try bind(name, to: driver, force: force) { () throws(UIOError) in try uioDevice(name, boundTo: driver) }
    }

    /// Binds the device `name` to `driver`, then waits for what the driver makes of it (`made`);
    /// rolls back if either fails.
    func bind<Made>(_ name: String, to driver: String, force: Bool, then made: () throws(UIOError) -> Made) throws(UIOError) -> Made {
        let device = try devicePath(name)
        try checkDriver(driver)
        let original = currentDriver(device)
        if let original, original != driver, !force { try refuseIfInUse(device, by: original, command: "bind") }
        let originalOverride = override(of: device)
        do throws(UIOError) {
            if currentDriver(device) != driver {
                if original != nil { try write(name, to: "\(device)/driver/unbind") }
                try write(driver, to: "\(device)/driver_override")
                try write(name, to: "\(sysfs)/bus/\(bus)/drivers_probe")
            }
            guard currentDriver(device) == driver else {
                throw UIOError(.systemCall, subject: device, reason: "\(driver) did not take the device",
                               advice: "see the kernel log (dmesg) for why the probe failed")
            }
            return try made()
        } catch {
            // A failure before anything changed (no permission to unbind) leaves nothing to undo.
            if currentDriver(device) == original && override(of: device) == originalOverride { throw error }
            throw rollBack(name, at: device, to: original, originalOverride: originalOverride, after: error)
        }
    }

    /// Unbinds the device from its driver and clears its `driver_override`. Refuses a device
    /// its driver is using unless `force`, as ``bind(_:to:force:)`` does.
    func unbind(_ name: String, force: Bool = false) throws(UIOError) {
        let device = try devicePath(name)
        if let driver = currentDriver(device) {
            if !force { try refuseIfInUse(device, by: driver, command: "unbind") }
            try write(name, to: "\(device)/driver/unbind")
        }
        try write("\n", to: "\(device)/driver_override")
    }

    /// Throws ``UIOError/Code-swift.enum/deviceInUse`` when `driver` serves something through
    /// the device that taking it away would cut off.
    private func refuseIfInUse(_ device: String, by driver: String, command: String) throws(UIOError) {
        let uses = try DeviceUsage(system: system, sysfs: sysfs, mountInfo: mountInfo).uses(of: device)
        guard uses.isEmpty else {
            throw UIOError(.deviceInUse, subject: device,
                           reason: "\(driver) is using it: \(uses.map(\.description).joined(separator: "; "))",
                           advice: "\(uses.map(\.remedy).joined(separator: "; ")) first, or force it (uioctl \(command) --force), which cuts that off")
        }
    }

    /// Refuses a driver name that is not one folder name, or names no driver the kernel has loaded.
    private func checkDriver(_ driver: String) throws(UIOError) {
        guard !driver.isEmpty, !driver.contains("/"), driver != ".", driver != "..", !driver.contains("\0"),
              !driver.contains(where: \.isWhitespace) else {
            throw UIOError(.deviceNotFound, subject: driver.isEmpty ? "the driver" : driver, reason: "is not a driver's name",
                           advice: "name one driver as /sys/bus/\(bus)/drivers lists it, e.g. \(KernelDriver.generic(forBus: bus))")
        }
        guard exists("\(sysfs)/bus/\(bus)/drivers/\(driver)") else {
            throw UIOError(.deviceNotFound, subject: driver, reason: "no such \(bus) driver is loaded",
                           advice: "load it first: modprobe \(driver)")
        }
    }

    /// Waits for the UIO device the bound driver makes.
    private func uioDevice(_ name: String, boundTo driver: String) throws(UIOError) -> UIODevice {
        // devtmpfs and the uio class follow the probe; give them a moment.
        for _ in 0..<100 {
            if let uio = try findUIO(name) { return uio }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        throw UIOError(.deviceNotFound, subject: name, reason: "bound to \(driver), but no UIO device appeared",
                       advice: "is \(driver) a UIO driver?")
    }

    /// Puts the device back as it was after a bind that failed: off the new driver, the old
    /// `driver_override`, the old driver. Returns `failure`, saying what became of the device.
    private func rollBack(_ name: String, at device: String, to original: String?, originalOverride: String?,
                          after failure: UIOError) -> UIOError {
        var problems: [String] = []
        func attempt(_ what: String, _ step: () throws(UIOError) -> Void) {
            do { try step() } catch { problems.append("\(what): \(error.reason)") }
        }
        if let now = currentDriver(device), now != original {
            attempt("unbinding from \(now)") { () throws(UIOError) in try write(name, to: "\(device)/driver/unbind") }
        }
        // A bare newline clears an override; writing back "(null)" would set one.
        attempt("restoring driver_override") { () throws(UIOError) in try write(originalOverride ?? "\n", to: "\(device)/driver_override") }
        if let original, currentDriver(device) != original {
            attempt("binding to \(original)") { () throws(UIOError) in
                try write(name, to: "\(sysfs)/bus/\(bus)/drivers/\(original)/bind")
            }
        }
        let now = currentDriver(device)
        if now == original && override(of: device) == originalOverride {
            let state = original.map { "given back to \($0)" } ?? "left without a driver, as it was"
            return UIOError(failure.code, subject: failure.subject, reason: "\(failure.reason); \(state)",
                            errno: failure.errno, advice: failure.advice)
        }
        let state = now.map { "now on \($0)" } ?? "left without a driver"
        let why = problems.isEmpty ? "" : " (\(problems.joined(separator: "; ")))"
        let driverFix = original.map { "echo \(name) > \(sysfs)/bus/\(bus)/drivers/\($0)/bind" } ?? "uioctl unbind \(name)"
        return UIOError(failure.code, subject: failure.subject,
                        reason: "\(failure.reason); putting it back failed\(why), \(state)", errno: failure.errno,
                        advice: "put it back by hand: echo \(originalOverride ?? "") > \(device)/driver_override; \(driverFix)")
    }

    /// The device's `driver_override`, or nil when none is set (the kernel reads back "(null)").
    private func override(of device: String) -> String? {
        guard let text = try? SysfsFile.read("\(device)/driver_override", system: system),
              let line = SysfsValue.line(text), line != "(null)" else { return nil }
        return line
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
