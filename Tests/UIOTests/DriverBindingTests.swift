import UIOPlatform
import Foundation
import Testing
@_spi(Simulation) @testable import UIO

@Suite("Binding a PCI or platform device: the errors")
struct DriverBindingTests {
    /// One bus's face of the binding, with a device name and driver that fit it.
    struct Bus: Sendable, CustomTestStringConvertible {
        let name: String
        let device: String
        let absentDevice: String
        let driver: String
        let bind: @Sendable (String, String, SystemCalls, String) throws(UIOError) -> UIODevice
        var testDescription: String { name }

        static let pci = Bus(name: "pci", device: "0000:00:04.0", absentDevice: "0000:00:05.0", driver: "uio_pci_generic") {
            device, driver, system, sysfs throws(UIOError) in try PCIBinding.bind(slot: device, to: driver, system: system, sysfs: sysfs)
        }
        static let platform = Bus(name: "platform", device: "9010000.pl031", absentDevice: "9020000.pl031", driver: "uio_pdrv_genirq") {
            device, driver, system, sysfs throws(UIOError) in try PlatformBinding.bind(device: device, to: driver, system: system, sysfs: sysfs)
        }
    }

    /// A stand-in sysfs with one device on `bus` and, optionally, a loaded driver.
    func sysfs(_ bus: Bus, driverLoaded: Bool) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/bus/\(bus.name)/devices/\(bus.device)", withIntermediateDirectories: true)
        if driverLoaded {
            try FileManager.default.createDirectory(atPath: root + "/bus/\(bus.name)/drivers/\(bus.driver)", withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: root + "/bus/\(bus.name)/devices/\(bus.device)/driver_override", contents: nil)
        _ = FileManager.default.createFile(atPath: root + "/bus/\(bus.name)/drivers_probe", contents: nil)
        return root
    }

    @Test("text that is not a PCI slot is refused before anything is written")
    func notASlot() {
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "uio0", to: "uio_pci_generic", system: .live, sysfs: "/nonexistent") }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("0000:00:04.0") == true)
    }

    @Test("text that cannot be a platform device's name is refused before anything is read", arguments: ["", "..", ".", "../../../etc", "a/b"])
    func notAPlatformName(name: String) {
        let error = #expect(throws: UIOError.self) {
            try PlatformBinding.bind(device: name, to: "uio_pdrv_genirq", system: .live, sysfs: "/nonexistent")
        }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("/sys/bus/platform/devices") == true)
    }

    @Test("an absent device is deviceNotFound", arguments: [Bus.pci, .platform])
    func absentDevice(bus: Bus) throws {
        let root = try sysfs(bus, driverLoaded: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let error = #expect(throws: UIOError.self) { try bus.bind(bus.absentDevice, bus.driver, .live, root) }
        #expect(error?.code == .deviceNotFound)
    }

    @Test("a driver that is not loaded says to load it", arguments: [Bus.pci, .platform])
    func driverNotLoaded(bus: Bus) throws {
        let root = try sysfs(bus, driverLoaded: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let error = #expect(throws: UIOError.self) { try bus.bind(bus.device, bus.driver, .live, root) }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("modprobe \(bus.driver)") == true)
    }

    @Test("without permission to write driver_override the error says binding needs root", arguments: [Bus.pci, .platform])
    func permission(bus: Bus) throws {
        let root = try sysfs(bus, driverLoaded: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var denied = SystemCalls.live
        denied.open = { path, flags in
            flags & O_WRONLY != 0 ? .failure(.permissionDenied) : SystemCalls.live.open(path, flags)
        }
        let error = #expect(throws: UIOError.self) { try bus.bind(bus.device, bus.driver, denied, root) }
        #expect(error?.code == .permissionDenied)
        #expect(error?.description.contains("root") == true)
    }

    @Test("a driver name that is not one folder name is refused before anything is written",
          arguments: ["", "..", ".", "a/b", "../../../../etc", "uio pci"])
    func notADriverName(driver: String) {
        let sim = SimulatedBus(bus: "pci", device: "0000:00:04.0", driver: "e1000", idMatch: "e1000",
                               loaded: ["e1000", "uio_pci_generic"], accepting: ["e1000", "uio_pci_generic"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:04.0", to: driver) }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("is not a driver's name") == true, "\(String(describing: error))")
        #expect(sim.writes.isEmpty)
        #expect(sim.driver == "e1000")
    }

    @Test("a driver the kernel does not have is refused before the device is unbound")
    func unknownDriver() {
        let sim = SimulatedBus(bus: "pci", device: "0000:00:04.0", driver: "e1000", idMatch: "e1000",
                               loaded: ["e1000"], accepting: ["e1000"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:04.0", to: "no_such_driver") }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("no such pci driver is loaded") == true)
        #expect(sim.writes.isEmpty)
        #expect(sim.driver == "e1000")
    }
}
