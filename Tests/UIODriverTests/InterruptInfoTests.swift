import Testing
import UIO
@testable import UIODriver

/// `WdfInterruptGetInfo` from what the bus and the kernel driver imply.
@Suite("Interrupt info")
struct InterruptInfoTests {
    static func device(parentSubsystem: String, driver: String?, pci: Bool) -> UIODevice {
        let parent = ParentDevice(
            subsystem: parentSubsystem, sysName: "0000:00:04.0", sysPath: "/sys/devices/pci0000:00/0000:00:04.0",
            driver: driver, irq: 11,
            pci: pci ? PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: nil, subsystemDevice: nil, classCode: 0x00ff00,
                                   slot: "0000:00:04.0") : nil)
        return UIODevice(number: 0, name: "test", version: "0", eventCount: 0, maps: [], portRegions: [],
                         devicePath: "/dev/uio0", sysPath: parent.sysPath + "/uio/uio0", parent: parent)
    }

    @Test("any PCI parent's line is INTx: level-sensitive, active-low, shared, whichever UIO driver has it",
          arguments: ["uio_pci_generic", "uio_netx", "igb_uio"])
    func pciINTx(driver: String) {
        let info = InterruptInfo.describe(.line(of: Self.device(parentSubsystem: "pci", driver: driver, pci: true), kernel: nil))
        #expect(info.mode == .levelSensitive)
        #expect(info.polarity == .activeLow)
        #expect(info.shareDisposition == .shared)
        #expect(info.vector == 11)
    }

    @Test("a platform parent's line is what /proc/interrupts says; without it, undetermined")
    func platformLine() {
        let info = InterruptInfo.describe(.line(of: Self.device(parentSubsystem: "platform", driver: "uio_pdrv_genirq", pci: false), kernel: nil))
        #expect(info.mode == .unknown)
        #expect(info.polarity == .unknown)
        #expect(info.shareDisposition == .undetermined)
    }

    @Test("a message is message-signaled, latched and the device's own, with its number")
    func message() {
        let info = InterruptInfo.describe(InterruptDescription(message: 3, kernel: nil))
        #expect(info.messageSignaled)
        #expect(info.messageNumber == 3)
        #expect(info.mode == .latched)
        #expect(info.shareDisposition == .deviceExclusive)
        #expect(info.vector == nil)
    }
}
