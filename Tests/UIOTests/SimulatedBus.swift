import UIOPlatform
import SystemPackage
@_spi(Simulation) @testable import UIO

#if canImport(Glibc)
import Glibc
#endif

/// One device on a bus in a sysfs held in memory, whose binding files act as the kernel's:
/// `driver/unbind` takes the device off its driver; `driver_override` sets the override and a
/// bare newline clears it (it reads back "(null)"); `drivers_probe` and `drivers/NAME/bind` give
/// the device to the driver that matches it — the override's, or else the one its ids match —
/// when that driver is loaded and accepts it. Other files, links and folders are set by the test.
final class SimulatedBus: @unchecked Sendable {
    struct State {
        var driver: String?
        var override: String?
        /// The driver whose id table matches the device, when no override is set.
        var idMatch: String?
        var loaded: Set<String>
        /// The drivers whose probe takes the device; the others refuse it (-ENODEV).
        var accepting: Set<String>
        var files: [String: String] = [:]
        var links: [String: String] = [:]
        var folders: [String: [String]] = [:]
        var openFiles: [Int32: String] = [:]
        var nextFD: Int32 = 100
        /// Every write, as "path <- text".
        var writes: [String] = []
    }

    let bus: String
    let name: String
    let root = "/simulated-sys"
    let state: Locked<State>

    init(bus: String, device name: String, driver: String?, idMatch: String?, override: String? = nil,
         loaded: Set<String>, accepting: Set<String>) {
        self.bus = bus
        self.name = name
        state = Locked(State(driver: driver, override: override, idMatch: idMatch, loaded: loaded, accepting: accepting))
    }

    var devicePath: String { "\(root)/bus/\(bus)/devices/\(name)" }

    /// The device's folder under `/sys/devices`, where class entries link.
    var canonicalPath: String { "\(root)/devices/\(bus == "pci" ? "pci0000:00" : "platform")/\(name)" }

    /// Adds an entry of `/sys/class/CLASS` that lives at `relative` under the device's folder
    /// (or under `owner`'s), with its attribute files.
    func addClassEntry(_ deviceClass: String, _ entry: String, at relative: String, owner: String? = nil, files: [String: String]) {
        state.withLock { state in
            let folder = "\(root)/class/\(deviceClass)"
            state.folders[folder, default: []].append(entry)
            let base = owner.map { "\(root)/devices/\(bus == "pci" ? "pci0000:00" : "platform")/\($0)" } ?? canonicalPath
            state.links["\(folder)/\(entry)"] = "../..\(base.dropFirst(root.count))/\(relative)"
            for (file, text) in files { state.files["\(folder)/\(entry)/\(file)"] = text }
        }
    }

    var driver: String? { state.withLock { $0.driver } }
    var override: String? { state.withLock { $0.override } }
    var writes: [String] { state.withLock { $0.writes } }

    var system: SystemCalls {
        var system = SystemCalls.live
        system.open = { [self] path, flags in
            state.withLock { state in
                guard isFolder(path, state) || (flags & O_DIRECTORY == 0 && isFile(path, state)) else { return .failure(.noSuchFileOrDirectory) }
                let fd = state.nextFD
                state.nextFD += 1
                state.openFiles[fd] = path
                return .success(fd)
            }
        }
        system.close = { [self] fd in
            state.withLock { $0.openFiles[fd] = nil }
            return .success(())
        }
        system.pread = { [self] fd, buffer, offset in
            state.withLock { state in
                guard let path = state.openFiles[fd], let text = contents(path, state) else { return .failure(.badFileDescriptor) }
                let bytes = Array(text.utf8).dropFirst(Int(offset)).prefix(buffer.count)
                buffer.copyBytes(from: bytes)
                return .success(bytes.count)
            }
        }
        system.pwrite = { [self] fd, buffer, _ in
            state.withLock { state in
                guard let path = state.openFiles[fd] else { return .failure(.badFileDescriptor) }
                let text = String(decoding: buffer, as: UTF8.self)
                state.writes.append("\(path) <- \(text)")
                return act(path, text, &state).map { buffer.count }
            }
        }
        system.readLink = { [self] path in
            state.withLock { state in
                if path == "\(devicePath)/driver", let driver = state.driver { return .success("../../../bus/\(bus)/drivers/\(driver)") }
                if path == devicePath { return .success("../../..\(canonicalPath.dropFirst(root.count))") }
                return state.links[path].map { .success($0) } ?? .failure(.invalidArgument)
            }
        }
        system.listDirectory = { [self] path in
            state.withLock { state in state.folders[path].map { .success($0) } ?? .failure(.noSuchFileOrDirectory) }
        }
        return system
    }

    private func isFolder(_ path: String, _ state: State) -> Bool {
        path == devicePath || state.folders[path] != nil
            || state.loaded.contains { path == "\(root)/bus/\(bus)/drivers/\($0)" }
    }

    private func isFile(_ path: String, _ state: State) -> Bool {
        contents(path, state) != nil || path == "\(root)/bus/\(bus)/drivers_probe"
            || (path == "\(devicePath)/driver/unbind" && state.driver != nil)
            || state.loaded.contains { path == "\(root)/bus/\(bus)/drivers/\($0)/bind" }
    }

    private func contents(_ path: String, _ state: State) -> String? {
        if path == "\(devicePath)/driver_override" { return (state.override ?? "(null)") + "\n" }
        return state.files[path]
    }

    /// What the kernel does on a write to `path`.
    private func act(_ path: String, _ text: String, _ state: inout State) -> Result<Void, Errno> {
        let line = text.hasSuffix("\n") ? String(text.dropLast()) : text
        switch path {
        case "\(devicePath)/driver/unbind":
            state.driver = nil
        case "\(devicePath)/driver_override":
            state.override = line.isEmpty ? nil : line
        case "\(root)/bus/\(bus)/drivers_probe":
            guard line == name else { return .failure(.noSuchAddressOrDevice) }
            if state.driver == nil, let candidate = state.override ?? state.idMatch,
               state.loaded.contains(candidate), state.accepting.contains(candidate) {
                state.driver = candidate
            }
        default:
            guard let driver = state.loaded.first(where: { path == "\(root)/bus/\(bus)/drivers/\($0)/bind" }) else {
                state.files[path] = text
                return .success(())
            }
            guard line == name, state.driver == nil, (state.override ?? state.idMatch) == driver,
                  state.accepting.contains(driver) else { return .failure(.noSuchAddressOrDevice) }
            state.driver = driver
        }
        return .success(())
    }

    /// A binding over this bus, reading `mountInfo` for the mounts; its UIO device appears when
    /// the device is on `uioDriver`.
    func binding(uioDriver: String, mountInfo: String = "") -> DriverBinding {
        state.withLock { $0.files["\(root)/mountinfo"] = mountInfo }
        var binding = bus == "pci"
            ? PCIBinding.binding(system: system, sysfs: root)
            : PlatformBinding.binding(system: system, sysfs: root)
        binding.mountInfo = "\(root)/mountinfo"
        binding.findUIO = { [self] _ in
            guard driver == uioDriver else { return nil }
            return UIODevice(number: 0, name: uioDriver, version: "0.01.0", eventCount: 0, maps: [], portRegions: [],
                             devicePath: "/dev/uio0", sysPath: "\(canonicalPath)/uio/uio0", parent: nil)
        }
        return binding
    }
}
