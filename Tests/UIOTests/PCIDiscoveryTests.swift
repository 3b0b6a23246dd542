import Testing
import UIO

/// PCI devices on whichever driver they are, through real libudev over the mocked tree: in the
/// umockdev suite, which owns the one testbed.
extension DiscoveryTests {
    /// An edu device on uio_pci_generic, an e1000 on its kernel driver and an NVMe controller with
    /// no driver; returns the edu's number.
    func addDevicesOnEveryKindOfDriver() throws -> Int {
        let n = MockSysfs.freshNumber()
        try sysfs.add(MockSysfs.eduRecord(number: n))
        try sysfs.add(MockSysfs.e1000Record)
        try sysfs.add(MockSysfs.nvmeRecord)
        return n
    }

    @Test("every PCI device is listed by slot, with its ids, class, driver, IOMMU group and UIO devices")
    func pciEnumeration() throws {
        let n = try addDevicesOnEveryKindOfDriver()
        let devices = try PCIDevice.all()
        #expect(devices.map(\.slot) == [MockSysfs.eduSlot(n), MockSysfs.e1000Slot, MockSysfs.nvmeSlot])
        let edu = devices[0], nic = devices[1], nvme = devices[2]
        #expect(edu.identity == PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100,
                                            classCode: 0x00ff00, slot: MockSysfs.eduSlot(n)))
        #expect(edu.driver == "uio_pci_generic")
        #expect(edu.uioNumbers == [n])
        #expect(edu.isOnUIODriver)
        #expect(edu.iommuGroup == nil)
        #expect(edu.sysPath == "/sys/devices/pci0000:00/\(MockSysfs.eduSlot(n))")
        #expect(nic.identity == PCIIdentity(vendor: 0x8086, device: 0x100e, subsystemVendor: nil, subsystemDevice: nil,
                                            classCode: 0x020000, slot: MockSysfs.e1000Slot))
        #expect(nic.driver == "e1000")
        #expect(nic.iommuGroup == 5)
        #expect(nic.uioNumbers.isEmpty)
        #expect(!nic.isOnUIODriver)
        #expect(nvme.driver == nil)
        #expect(nvme.iommuGroup == 6)
        #expect(nvme.identity.classCode == 0x010802)
    }

    @Test("each selector picks its PCI devices, on whichever driver")
    func pciSelectors() throws {
        let n = try addDevicesOnEveryKindOfDriver()
        let cases: [(DeviceSelector, [String])] = [
            (DeviceSelector("8086:100e"), [MockSysfs.e1000Slot]),
            (.pci(vendor: 0x1b36, device: nil), [MockSysfs.nvmeSlot]),
            (.pciClass(0x010000, mask: 0xff0000), [MockSysfs.nvmeSlot]),
            (DeviceSelector(MockSysfs.nvmeSlot), [MockSysfs.nvmeSlot]),
            (.slot(MockSysfs.e1000Slot.uppercased()), [MockSysfs.e1000Slot]),
            (.number(n), [MockSysfs.eduSlot(n)]),
            (.devicePath("/dev/uio\(n)"), [MockSysfs.eduSlot(n)]),
            (.sysPath("/sys/bus/pci/devices/\(MockSysfs.e1000Slot)"), [MockSysfs.e1000Slot]),
            (.sysPath("/sys/devices/pci0000:00/\(MockSysfs.nvmeSlot)"), [MockSysfs.nvmeSlot]),
            (.name("uio_pci_generic"), []),
            (.pci(vendor: 0xabcd, device: nil), []),
        ]
        for (selector, slots) in cases {
            #expect(try PCIDevice.find(selector).map(\.slot) == slots, "\(selector)")
        }
    }

    @Test("a malformed id or IOMMU group link of a PCI device off UIO is a malformedAttribute error naming it")
    func pciMalformed() throws {
        try sysfs.add(MockSysfs.e1000Record)
        let path = "/sys/devices/pci0000:00/\(MockSysfs.e1000Slot)"
        sysfs.setAttribute(path, "class", "0x1000000")
        let badClass = try #require(throws: UIOError.self) { try PCIDevice.all() }
        #expect(badClass.code == .malformedAttribute)
        #expect(badClass.subject == path + "/class")
        sysfs.clear()
        try sysfs.add(MockSysfs.pciRecord(slot: MockSysfs.nvmeSlot, vendor: 0x1b36, device: 0x0010, classCode: 0x010802,
                                          driver: nil, iommuGroup: "group"))
        let badGroup = try #require(throws: UIOError.self) { try PCIDevice.all() }
        #expect(badGroup.code == .malformedAttribute)
        #expect(badGroup.subject == "/sys/devices/pci0000:00/\(MockSysfs.nvmeSlot)/iommu_group")
    }
}
