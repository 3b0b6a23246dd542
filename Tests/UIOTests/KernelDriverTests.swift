import Testing
import UIO

/// What the bound kernel driver decides, in one place.
@Suite("Kernel drivers")
struct KernelDriverTests {
    @Test("uio_pci_generic re-arms through the Interrupt Disable bit and always shares its INTx line")
    func pciGeneric() {
        let driver = KernelDriver(name: "uio_pci_generic")
        #expect(driver == .uioPCIGeneric)
        #expect(driver.reArmMethod == .pciInterruptDisableBit)
        #expect(driver.lineRequest == .sharedPCIINTx)
        #expect(driver.alwaysSharesLine)
    }

    @Test("the genirq drivers and a driver not known re-arm through irqcontrol, with the firmware's flags",
          arguments: ["uio_pdrv_genirq", "uio_dmem_genirq", "igb_uio"])
    func irqControlDrivers(name: String) {
        let driver = KernelDriver(name: name)
        #expect(driver.reArmMethod == .irqControl)
        #expect(driver.lineRequest == .asFirmwareDescribes)
        #expect(!driver.alwaysSharesLine)
    }

    @Test("a parent's driver name becomes the model; a parent without a driver has none")
    func parentDevice() {
        let bound = ParentDevice(subsystem: "pci", sysName: "0000:00:04.0", sysPath: "/sys/devices/pci0000:00/0000:00:04.0",
                                 driver: "uio_pci_generic", irq: 11, pci: nil)
        let unbound = ParentDevice(subsystem: "platform", sysName: "9010000.pl031", sysPath: "/sys/devices/platform/9010000.pl031",
                                   driver: nil, irq: nil, pci: nil)
        #expect(bound.kernelDriver == .uioPCIGeneric)
        #expect(unbound.kernelDriver == nil)
        #expect(KernelDriver.generic(forBus: "pci") == .uioPCIGeneric)
        #expect(KernelDriver.generic(forBus: "platform") == .uioPdrvGenirq)
    }
}
