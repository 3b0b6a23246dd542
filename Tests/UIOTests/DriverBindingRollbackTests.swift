import Testing
@_spi(Simulation) @testable import UIO

@Suite("Binding is all or nothing: a failed bind puts the device back")
struct DriverBindingRollbackTests {
    /// A bus and a device name that fit it.
    struct Bus: Sendable, CustomTestStringConvertible {
        let name: String
        let device: String
        let uioDriver: String
        var testDescription: String { name }
        static let pci = Bus(name: "pci", device: "0000:00:03.0", uioDriver: "uio_pci_generic")
        static let platform = Bus(name: "platform", device: "9010000.pl031", uioDriver: "uio_pdrv_genirq")
    }

    /// The device on its kernel driver `kernel`, with `refusing` loaded but refusing it.
    func simulated(_ bus: Bus, kernel: String? = "kernel_driver", accepting: Set<String>? = nil) -> SimulatedBus {
        let all: Set = [kernel, bus.uioDriver, "refusing"].compactMap { $0 }.reduce(into: Set<String>()) { $0.insert($1) }
        return SimulatedBus(bus: bus.name, device: bus.device, driver: kernel, idMatch: kernel, loaded: all,
                            accepting: accepting ?? all.subtracting(["refusing"]))
    }

    @Test("a driver that refuses the device: the original driver gets it back, driver_override cleared", arguments: [Bus.pci, .platform])
    func refusedProbe(bus: Bus) {
        let sim = simulated(bus)
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: bus.uioDriver).bind(bus.device, to: "refusing") }
        #expect(error?.code == .systemCall)
        #expect(error?.description.contains("refusing did not take the device; given back to kernel_driver") == true, "\(String(describing: error))")
        #expect(sim.driver == "kernel_driver")
        #expect(sim.override == nil)
        #expect(sim.writes.last == "\(sim.root)/bus/\(bus.name)/drivers/kernel_driver/bind <- \(bus.device)")
    }

    @Test("a driver that takes the device but makes no UIO device is undone", arguments: [Bus.pci])
    func noUIODevice(bus: Bus) {
        let sim = simulated(bus, accepting: ["kernel_driver", "refusing"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: bus.uioDriver).bind(bus.device, to: "refusing") }
        #expect(error?.code == .deviceNotFound)
        #expect(error?.description.contains("no UIO device appeared; given back to kernel_driver") == true, "\(String(describing: error))")
        #expect(sim.driver == "kernel_driver")
        #expect(sim.override == nil)
    }

    @Test("a device that had no driver is left without one, its override cleared", arguments: [Bus.pci, .platform])
    func noDriverBefore(bus: Bus) {
        let sim = simulated(bus, kernel: nil)
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: bus.uioDriver).bind(bus.device, to: "refusing") }
        #expect(error?.description.contains("left without a driver, as it was") == true, "\(String(describing: error))")
        #expect(sim.driver == nil)
        #expect(sim.override == nil)
    }

    @Test("an override set before is put back before the old driver binds again (it matched through it)")
    func overrideRestored() {
        let sim = SimulatedBus(bus: "pci", device: "0000:00:03.0", driver: "uio_pci_generic", idMatch: nil, override: "uio_pci_generic",
                               loaded: ["uio_pci_generic", "refusing"], accepting: ["uio_pci_generic"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "refusing") }
        #expect(error?.description.contains("given back to uio_pci_generic") == true, "\(String(describing: error))")
        #expect(sim.driver == "uio_pci_generic")
        #expect(sim.override == "uio_pci_generic")
    }

    @Test("when the old driver refuses the device back, the error says it has no driver and how to bind it by hand")
    func rollbackFails() {
        // The kernel driver holds the device now but would not probe it again.
        let sim = simulated(.pci, accepting: ["uio_pci_generic"])
        let error = #expect(throws: UIOError.self) { try sim.binding(uioDriver: "uio_pci_generic").bind("0000:00:03.0", to: "refusing") }
        #expect(error?.description.contains("putting it back failed (binding to kernel_driver:") == true, "\(String(describing: error))")
        #expect(error?.description.contains("left without a driver") == true)
        #expect(error?.description.contains("echo 0000:00:03.0 > \(sim.root)/bus/pci/drivers/kernel_driver/bind") == true)
        #expect(sim.driver == nil)
        #expect(sim.override == nil)
    }

    @Test("a driver that takes the device: bound, the override naming it, nothing undone", arguments: [Bus.pci, .platform])
    func success(bus: Bus) throws {
        let sim = simulated(bus)
        let uio = try sim.binding(uioDriver: bus.uioDriver).bind(bus.device, to: bus.uioDriver)
        #expect(uio.name == bus.uioDriver)
        #expect(sim.driver == bus.uioDriver)
        #expect(sim.override == bus.uioDriver)
        #expect(sim.writes.count == 3)
    }

    @Test("without permission to unbind, nothing changed and nothing is undone")
    func deniedBeforeAnyChange() {
        let sim = simulated(.pci)
        var binding = sim.binding(uioDriver: "uio_pci_generic")
        var denied = sim.system
        let open = denied.open
        denied.open = { path, flags in path.hasSuffix("/unbind") ? .failure(.permissionDenied) : open(path, flags) }
        binding = DriverBinding(bus: binding.bus, noun: binding.noun, selector: binding.selector, isValidName: binding.isValidName,
                                invalidName: binding.invalidName, listAdvice: binding.listAdvice, system: denied, sysfs: binding.sysfs)
        let error = #expect(throws: UIOError.self) { try binding.bind("0000:00:03.0", to: "uio_pci_generic") }
        #expect(error?.code == .permissionDenied)
        #expect(error?.description.contains("given back") == false)
        #expect(sim.writes.isEmpty)
        #expect(sim.driver == "kernel_driver")
    }
}
