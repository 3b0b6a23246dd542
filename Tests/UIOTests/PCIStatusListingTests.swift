import Foundation
import Testing
import UIO
import UIOControl

/// What `uioctl list --all` prints, over the mocked tree: in the umockdev suite, which owns the
/// one testbed.
extension DiscoveryTests {
    @Test("list --all groups the PCI devices by driver, aligned, with IOMMU groups and UIO devices; its JSON decodes")
    func pciStatusListing() throws {
        let n = try addDevicesOnEveryKindOfDriver()
        let devices = try PCIDevice.all()
        let edu = MockSysfs.eduSlot(n)
        let header = "SLOT          ID         CLASS     DRIVER           IOMMU  UIO"
        #expect(DeviceListing.pciStatus(devices) == """
            PCI devices on a UIO driver
            ===========================
            \(header)
            \(edu)  1234:11e8  0x00ff00  uio_pci_generic  -      uio\(n)

            PCI devices on another kernel driver
            ====================================
            \(header)
            0000:01:00.0  8086:100e  0x020000  e1000            5      -

            PCI devices with no driver
            ==========================
            \(header)
            0000:02:00.0  1b36:0010  0x010802  -                6      -
            """)
        let decoded = try JSONDecoder().decode([PCIDevice].self, from: Data(try DeviceListing.json(devices).utf8))
        #expect(decoded == devices)
    }

    @Test("an empty group in list --all says none")
    func pciStatusEmptyGroups() throws {
        try sysfs.add(MockSysfs.e1000Record)
        let groups = DeviceListing.pciStatus(try PCIDevice.all()).components(separatedBy: "\n\n")
        #expect(groups.count == 3)
        #expect(groups[0] == "PCI devices on a UIO driver\n===========================\nnone")
        #expect(groups[1].hasSuffix("\n0000:01:00.0  8086:100e  0x020000  e1000   5      -"))
        #expect(groups[2] == "PCI devices with no driver\n==========================\nnone")
    }
}
