import Testing
@_spi(Simulation) import UIO
@_spi(Simulation) import UIOTesting

/// A device and its parent with the attribute texts a test chooses.
/// QEMU's edu device as uio_pci_generic shows it, with `changes` applied to the parent's
/// attributes (`nil` removes one).
private enum TestDevice {
    static func edu(parent changes: [String: String?] = [:], uio uioChanges: [String: String?] = [:]) -> AttributeDevice {
        var parentAttributes = ["vendor": "0x1234", "device": "0x11e8", "class": "0x00ff00", "irq": "11"]
        for (name, text) in changes { parentAttributes[name] = text }
        var attributes = ["name": "uio_pci_generic", "version": "0.01.0", "event": "7",
                          "maps/map0/addr": "0xfea00000", "maps/map0/size": "0x100000", "maps/map0/offset": "0x0"]
        for (name, text) in uioChanges { attributes[name] = text }
        let parent = AttributeDevice(folder: "test", sysName: "0000:00:04.0", subsystem: "pci", driver: "uio_pci_generic",
                                     attributes: parentAttributes)
        return AttributeDevice(folder: "test", sysName: "uio0", subsystem: "uio", driver: nil, attributes: attributes, parent: parent)
    }
}

/// Discovery's conversions of attribute text, fed directly: a number the kernel would never
/// write is a typed error naming the attribute, never a trap.
@Suite("Device construction from attribute texts")
struct DeviceConstructionTests {
    @Test("a well-formed device and parent build, with every number converted")
    func wellFormed() throws {
        let device = try UIODevice(reading: TestDevice.edu())
        #expect(device.number == 0)
        #expect(device.eventCount == 7)
        #expect(device.maps == [MemoryMap(index: 0, name: nil, address: 0xfea0_0000, size: 0x10_0000, offset: 0)])
        #expect(device.parent?.irq == 11)
        #expect(device.parent?.pci?.classCode == 0x00ff00)
    }

    @Test("an irq past Int.max is malformedAttribute naming irq, not a trap",
          arguments: ["9223372036854775808", "18446744073709551615"])
    func irqPastIntMax(text: String) throws {
        let error = try #require(throws: UIOError.self) { try UIODevice(reading: TestDevice.edu(parent: ["irq": text])) }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject == "/sys/devices/test/0000:00:04.0/irq")
        #expect(error.reason.contains(text))
    }

    @Test("the largest irq an Int holds is accepted")
    func irqAtIntMax() throws {
        let device = try UIODevice(reading: TestDevice.edu(parent: ["irq": "9223372036854775807"]))
        #expect(device.parent?.irq == Int.max)
    }

    @Test("an event count past 32 bits is malformedAttribute, not silently truncated")
    func eventPast32Bits() throws {
        let error = try #require(throws: UIOError.self) { try UIODevice(reading: TestDevice.edu(uio: ["event": "4294967296"])) }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject.hasSuffix("uio0/event"))
        #expect(try UIODevice(reading: TestDevice.edu(uio: ["event": "4294967295"])).eventCount == UInt32.max)
    }

    @Test("a class code past 24 bits is malformedAttribute, not silently masked")
    func classPast24Bits() throws {
        let error = try #require(throws: UIOError.self) { try UIODevice(reading: TestDevice.edu(parent: ["class": "0x1000000"])) }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject.hasSuffix("0000:00:04.0/class"))
    }
}

/// A PCI device's conversions of attribute and link text, fed directly.
@Suite("PCI device construction from attribute texts")
struct PCIDeviceConstructionTests {
    private func nic(subsystem: String = "pci", links: [String: String]) -> AttributeDevice {
        AttributeDevice(folder: "test", sysName: "0000:00:03.0", subsystem: subsystem, driver: "e1000",
                        attributes: ["vendor": "0x8086", "device": "0x100e", "class": "0x020000"], links: links)
    }

    @Test("a well-formed device builds: its IOMMU group from the link, its UIO numbers ascending")
    func wellFormed() throws {
        let device = try PCIDevice(reading: nic(links: ["iommu_group": "12"]), uioNumbers: [4, 1])
        #expect(device.identity == PCIIdentity(vendor: 0x8086, device: 0x100e, subsystemVendor: nil, subsystemDevice: nil,
                                               classCode: 0x020000, slot: "0000:00:03.0"))
        #expect(device.driver == "e1000")
        #expect(device.iommuGroup == 12)
        #expect(device.uioNumbers == [1, 4])
        #expect(try PCIDevice(reading: nic(links: [:]), uioNumbers: []).iommuGroup == nil)
    }

    @Test("an IOMMU group link to anything but a decimal number is malformedAttribute naming the link",
          arguments: ["", "five", "-1", "9223372036854775808"])
    func malformedGroup(target: String) throws {
        let error = try #require(throws: UIOError.self) { try PCIDevice(reading: nic(links: ["iommu_group": target]), uioNumbers: []) }
        #expect(error.code == .malformedAttribute)
        #expect(error.subject == "/sys/devices/test/0000:00:03.0/iommu_group")
    }

    @Test("a device on another bus is refused as notPCIDevice")
    func notPCI() throws {
        let error = try #require(throws: UIOError.self) { try PCIDevice(reading: nic(subsystem: "platform", links: [:]), uioNumbers: []) }
        #expect(error.code == .notPCIDevice)
        #expect(error.reason == "is a platform device, not a PCI device")
    }
}
