import Testing
import UIO

@Suite("Device selectors")
struct DeviceSelectorTests {
    static let edu = UIODevice(
        number: 3, name: "uio_pci_generic", version: "0.01.0", eventCount: 0, maps: [], portRegions: [],
        devicePath: "/dev/uio3", sysPath: "/sys/devices/pci0000:00/0000:00:04.0/uio/uio3",
        parent: ParentDevice(
            subsystem: "pci", sysName: "0000:00:04.0", sysPath: "/sys/devices/pci0000:00/0000:00:04.0",
            driver: "uio_pci_generic", irq: 11,
            pci: PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100,
                             classCode: 0x00ff00, slot: "0000:00:04.0")))

    @Test("what a person types is read as the selector it looks like", arguments: [
        ("uio3", DeviceSelector.number(3)),
        ("/dev/uio3", .devicePath("/dev/uio3")),
        ("/sys/class/uio/uio3", .sysPath("/sys/class/uio/uio3")),
        ("0000:00:04.0", .slot("0000:00:04.0")),
        ("1234:11e8", .pci(vendor: 0x1234, device: 0x11e8)),
        ("1234:", .pci(vendor: 0x1234, device: nil)),
        ("pl031-uio", .name("pl031-uio")),
        ("uio", .name("uio")),
        ("uiox", .name("uiox")),
    ])
    func parsing(text: String, expected: DeviceSelector) {
        #expect(DeviceSelector(text) == expected)
    }

    @Test("each selector picks the device it describes and no other")
    func matching() {
        let device = Self.edu
        let picks: [DeviceSelector] = [
            .any, .number(3), .name("uio_pci_generic"), .pci(vendor: 0x1234, device: 0x11e8), .pci(vendor: 0x1234, device: nil),
            .pciClass(0x00ff00), .pciClass(0x00ff42, mask: 0xffff00), .slot("0000:00:04.0"), .slot("0000:00:04.0".uppercased()),
            .sysPath("/sys/class/uio/uio3"), .sysPath(device.sysPath), .devicePath("/dev/uio3"),
        ]
        let misses: [DeviceSelector] = [
            .number(4), .name("edu"), .pci(vendor: 0x1234, device: 0x11e9), .pci(vendor: 0x8086, device: nil),
            .pciClass(0x020000), .slot("0000:00:05.0"), .sysPath("/sys/class/uio/uio4"), .devicePath("/dev/uio4"),
        ]
        for selector in picks { #expect(selector.matches(device), "\(selector)") }
        for selector in misses { #expect(!selector.matches(device), "\(selector)") }
    }

    @Test("PCI selectors never pick a device without a PCI parent")
    func platformParent() {
        let platform = UIODevice(
            number: 0, name: "pl031-uio", version: "devicetree", eventCount: 0, maps: [], portRegions: [],
            devicePath: "/dev/uio0", sysPath: "/sys/devices/platform/9010000.pl031/uio/uio0",
            parent: ParentDevice(subsystem: "platform", sysName: "9010000.pl031", sysPath: "/sys/devices/platform/9010000.pl031",
                                 driver: "uio_pdrv_genirq", irq: nil, pci: nil))
        #expect(!DeviceSelector.pci(vendor: 0x1234, device: nil).matches(platform))
        #expect(!DeviceSelector.pciClass(0, mask: 0).matches(platform))
        #expect(!DeviceSelector.slot("9010000.pl031").matches(platform))
        #expect(DeviceSelector.name("pl031-uio").matches(platform))
        #expect(DeviceSelector.platform("9010000.pl031").matches(platform))
        #expect(!DeviceSelector.platform("9020000.pl031").matches(platform))
        #expect(!DeviceSelector.platform("0000:00:04.0").matches(Self.edu))
    }
}
