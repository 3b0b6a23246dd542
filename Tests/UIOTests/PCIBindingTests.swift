import Foundation
import Testing
@_spi(Simulation) @testable import UIO

@Suite("Binding a PCI device: the errors")
struct PCIBindingTests {
    /// A stand-in sysfs with one PCI device and, optionally, a loaded driver.
    func sysfs(driverLoaded: Bool) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/bus/pci/devices/0000:00:04.0", withIntermediateDirectories: true)
        if driverLoaded {
            try FileManager.default.createDirectory(atPath: root + "/bus/pci/drivers/uio_pci_generic", withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: root + "/bus/pci/devices/0000:00:04.0/driver_override", contents: nil)
        FileManager.default.createFile(atPath: root + "/bus/pci/drivers_probe", contents: nil)
        return root
    }

    @Test("text that is not a PCI slot is refused before anything is written")
    func notASlot() {
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "uio0", to: "uio_pci_generic", system: .live, sysfs: "/nonexistent") }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("0000:00:04.0") == true)
    }

    @Test("an empty slot is deviceNotFound")
    func emptySlot() throws {
        let root = try sysfs(driverLoaded: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "0000:00:05.0", to: "uio_pci_generic", system: .live, sysfs: root) }
        #expect(error?.code == .deviceNotFound)
    }

    @Test("a driver that is not loaded says to load it")
    func driverNotLoaded() throws {
        let root = try sysfs(driverLoaded: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "0000:00:04.0", to: "uio_pci_generic", system: .live, sysfs: root) }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("modprobe uio_pci_generic") == true)
    }

    @Test("without permission to write driver_override the error says binding needs root")
    func permission() throws {
        let root = try sysfs(driverLoaded: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var denied = SystemCalls.live
        denied.open = { path, flags in
            flags & O_WRONLY != 0 ? .failure(.permissionDenied) : SystemCalls.live.open(path, flags)
        }
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "0000:00:04.0", to: "uio_pci_generic", system: denied, sysfs: root) }
        #expect(error?.code == .permissionDenied)
        #expect(error?.description.contains("root") == true)
    }

    @Test("a probe that does not take the device is reported, and the override was written")
    func probeFails() throws {
        let root = try sysfs(driverLoaded: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let error = #expect(throws: UIOError.self) { try PCIBinding.bind(slot: "0000:00:04.0", to: "uio_pci_generic", system: .live, sysfs: root) }
        #expect(error?.code == .systemCall)
        #expect(try String(contentsOfFile: root + "/bus/pci/devices/0000:00:04.0/driver_override", encoding: .utf8) == "uio_pci_generic")
        #expect(try String(contentsOfFile: root + "/bus/pci/drivers_probe", encoding: .utf8) == "0000:00:04.0")
    }
}
