import Testing
import UIO

/// The error of a UIO selector that matches only PCI devices still off UIO, over the mocked tree:
/// in the umockdev suite, which owns the one testbed.
extension DiscoveryTests {
    @Test("a selector matching a PCI device off UIO is deviceNotFound naming the slot, its driver and the bind command")
    func notFoundOffUIO() throws {
        _ = try addDevicesOnEveryKindOfDriver()
        let nic = try #require(throws: UIOError.self) { try UIODevice.first(DeviceSelector("8086:100e")) }
        #expect(nic.code == .deviceNotFound)
        #expect(nic.description == "PCI id 8086:100e: no such UIO device: the PCI device 0000:01:00.0 (8086:100e, driver e1000) "
                + "matches, but no UIO driver has it — bind it to uio_pci_generic (as root): uioctl bind 0000:01:00.0")
        let nvme = try #require(throws: UIOError.self) { try UIODevice.first(.slot(MockSysfs.nvmeSlot)) }
        #expect(nvme.reason.contains("\(MockSysfs.nvmeSlot) (1b36:0010, no driver)"))
        #expect(nvme.advice?.hasSuffix("uioctl bind \(MockSysfs.nvmeSlot)") == true)
        let storage = try #require(throws: UIOError.self) { try UIODevice.first(.pciClass(0x010802)) }
        #expect(storage.reason.contains(MockSysfs.nvmeSlot))
    }

    @Test("several PCI devices off UIO are all named, and one bind command is given")
    func notFoundSeveralOffUIO() throws {
        let secondSlot = "0000:03:00.0"
        try sysfs.add(MockSysfs.e1000Record)
        try sysfs.add(MockSysfs.pciRecord(slot: secondSlot, vendor: 0x8086, device: 0x100e, classCode: 0x020000,
                                          driver: nil, iommuGroup: nil))
        let error = try #require(throws: UIOError.self) { try UIODevice.first(.pci(vendor: 0x8086, device: nil)) }
        #expect(error.reason == "no such UIO device: the PCI devices \(MockSysfs.e1000Slot) (8086:100e, driver e1000), "
                + "\(secondSlot) (8086:100e, no driver) match, but no UIO driver has them")
        #expect(error.advice == "bind one to uio_pci_generic (as root): uioctl bind \(MockSysfs.e1000Slot)")
    }

    @Test("a selector that matches no PCI device, or is not by PCI identity, keeps the listing of UIO devices")
    func notFoundKeepsListing() throws {
        let n = try addDevicesOnEveryKindOfDriver()
        for selector: DeviceSelector in [.pci(vendor: 0xabcd, device: nil), .name("e1000"), .number(n + 1000)] {
            let error = try #require(throws: UIOError.self) { try UIODevice.first(selector) }
            #expect(error.reason == "no such UIO device", "\(selector)")
            #expect(error.advice == "present: uio\(n) \"uio_pci_generic\" at \(MockSysfs.eduSlot(n))", "\(selector)")
        }
    }
}
