import Foundation
import Testing
import QEMUDevices
import UIO

extension GuestSuites {
    /// The device layer against the real kernel: libudev on real sysfs, real mmap, the real 4-byte
    /// interrupt protocol.
    @Suite("Guest: device layer on uio_pci_generic")
    struct DeviceLayerGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        @Test("libudev finds each edu device, its BAR0 map and its PCI parent")
        func discovery() throws {
            let devices = try Guest.eduDevices()
            try #require(devices.count == 2, "the guest boots with two edu devices")
            for edu in devices {
                #expect(edu.name == "uio_pci_generic")
                #expect(edu.version == "0.01.0")
                #expect(edu.devicePath == "/dev/uio\(edu.number)")
                #expect(edu.maps.count == 1)
                #expect(edu.maps.first?.size == 0x10_0000)
                let parent = try #require(edu.parent)
                #expect(parent.subsystem == "pci")
                #expect(parent.driver == "uio_pci_generic")
                #expect(parent.pci?.classCode == 0x00ff00)
                #expect((parent.irq ?? 0) > 0)
                #expect(try UIODevice.find(.slot(parent.sysName)).map(\.number) == [edu.number])
                #expect(try UIODevice.find(.sysPath("/sys/class/uio/uio\(edu.number)")).map(\.number) == [edu.number])
            }
        }

        @Test("BAR0 through UIO map 0 and through resource0: the id register and the liveness register")
        func registers() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let handle = try edu.open()
            defer { handle.close() }
            let map = try handle.mapRegion(0)
            let bar = try handle.mapPCIResource(0)
            #expect(try map.read(UInt32.self, at: Edu.identification) == 0x0100_00ed)
            #expect(try bar.read(UInt32.self, at: Edu.identification) == 0x0100_00ed)
            try map.write(UInt32(0x1234_5678), at: Edu.liveness)
            #expect(try map.read(UInt32.self, at: Edu.liveness) == ~UInt32(0x1234_5678))
            #expect(try bar.read(UInt32.self, at: Edu.liveness) == ~UInt32(0x1234_5678))
            #expect(throws: UIOError.self) { try map.read(UInt32.self, at: 0x10_0000) }
        }

        @Test("a second claim of a claimed device is deviceBusy")
        func claim() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let handle = try edu.open()
            defer { handle.close() }
            let error = try #require(throws: UIOError.self) { try edu.open() }
            #expect(error.code == .deviceBusy)
        }

        @Test("the interrupt line: raise, wait, acknowledge, re-arm through the INTx bit, 100 times")
        func interruptLine() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let handle = try edu.open()
            defer { handle.close() }
            let registers = try handle.mapRegion(0)
            let line = try handle.interruptLine()
            defer { line.close() }
            #expect(line.reArmMethod == .pciInterruptDisableBit)
            let config = try handle.configSpace()
            let before = try edu.currentEventCount()
            try line.rearm()
            for round in 1...100 {
                try registers.write(UInt32(1), at: Edu.raiseInterrupt)
                guard case .interrupt(let event) = try line.wait(timeout: .seconds(5)) else {
                    Issue.record("round \(round): no interrupt within 5 s")
                    return
                }
                #expect(event.newInterrupts == 1)
                #expect(try config.isInterruptDisabled(), "uio_pci_generic masks INTx in its handler")
                #expect(try registers.read(UInt32.self, at: Edu.interruptStatus) == 1)
                try registers.write(UInt32(1), at: Edu.acknowledgeInterrupt)
                try line.rearm()
            }
            #expect(try edu.currentEventCount() == before &+ 100)
            #expect(try line.wait(timeout: .milliseconds(100)) == .timedOut)
        }

        @Test("unbinding removes the UIO device; binding through driver_override brings it back")
        func unbindAndBind() throws {
            let edu = try #require(try Guest.eduDevices().last)
            let slot = try #require(edu.parent?.sysName)
            try PCIBinding.unbind(slot: slot)
            #expect(try UIODevice.find(.slot(slot)).isEmpty)
            let error = try #require(throws: UIOError.self) { try edu.open() }
            #expect(error.code == .deviceRemoved)
            let again = try PCIBinding.bind(slot: slot, to: "uio_pci_generic")
            #expect(again.parent?.sysName == slot)
            #expect(again.parent?.driver == "uio_pci_generic")
            let handle = try again.open()
            #expect(try handle.mapRegion(0).read(UInt32.self, at: Edu.identification) == 0x0100_00ed)
            handle.close()
        }

        @Test("irqcontrol on uio_pci_generic is ENOSYS, and the line falls back to the INTx bit")
        func irqControlFallback() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let handle = try edu.open()
            defer { handle.close() }
            let line = try handle.interruptLine(reArm: .irqControl)
            defer { line.close() }
            try line.disable()
            #expect(line.reArmMethod == .pciInterruptDisableBit)
            #expect(try handle.configSpace().isInterruptDisabled())
            try line.enable()
            #expect(try !handle.configSpace().isInterruptDisabled())
        }
    }
}
