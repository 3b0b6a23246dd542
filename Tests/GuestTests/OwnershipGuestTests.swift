import Foundation
import Testing
import QEMUDevices
import UIO

extension GuestSuites {
    /// What uio_pci_generic does to the device's owner when anyone else touches the node: its
    /// `release()` clears Bus Master whenever the last file on `/dev/uioN` closes. And what the
    /// kernel does to device numbers on unbind and rebind: the lowest free number goes to
    /// whichever device registers first.
    @Suite("Guest: ownership and identity on uio_pci_generic")
    struct OwnershipGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        static let busMaster: UInt16 = 1 << 2

        /// Claims `edu`, sets Bus Master in its command register and returns the owner's handle.
        static func owner(of edu: UIODevice) throws -> (UIOHandle, ConfigSpace) {
            let handle = try edu.open()
            let config = try handle.configSpace()
            try config.write16(try config.command() | busMaster, at: ConfigSpace.commandOffset)
            try #require(try config.command() & busMaster != 0)
            return (handle, config)
        }

        /// `uioctl` built beside the test binary.
        static var uioctl: String {
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("uioctl").path
        }

        @Test("a refused second claim and a uioctl watch leave the owner's Bus Master set; an open and close beside it clears it (the kernel's release)")
        func busMasterSurvivesOthers() throws {
            let edu = try #require(try Guest.eduDevices().first)
            let (owner, config) = try Self.owner(of: edu)
            defer { owner.close() }

            let refused = try #require(throws: UIOError.self) { try edu.open() }
            #expect(refused.code == .deviceBusy)
            #expect(refused.reason.contains("this process"))
            #expect(try config.command() & Self.busMaster != 0, "a refused claim closed the node")

            let status = system("'\(Self.uioctl)' watch uio\(edu.number) --seconds 0.3 --interval 0.1 > /dev/null 2>&1")
            #expect(status == 0)
            #expect(try config.command() & Self.busMaster != 0, "uioctl watch closed the node")

            // The control: the kernel really clears the bit when a file on the node closes, so the
            // checks above could fail.
            try edu.open(exclusive: false).close()
            #expect(try config.command() & Self.busMaster == 0)
        }

        @Test("a device renumbered between discovery and open is refused without opening the node, which now reaches another device")
        func renumbered() throws {
            let devices = try Guest.eduDevices()
            try #require(devices.count == 2)
            let (first, second) = (devices[0], devices[1])
            let firstSlot = try #require(first.parent?.sysName)
            let secondSlot = try #require(second.parent?.sysName)
            // Both unbound, then the second bound first: it takes the lower number.
            try PCIBinding.unbind(slot: firstSlot)
            try PCIBinding.unbind(slot: secondSlot)
            let secondNow = try PCIBinding.bind(slot: secondSlot, to: "uio_pci_generic")
            let firstNow = try PCIBinding.bind(slot: firstSlot, to: "uio_pci_generic")
            defer {
                // The numbering the other suites expect: the first slot at the lower number.
                _ = try? PCIBinding.unbind(slot: firstSlot)
                _ = try? PCIBinding.unbind(slot: secondSlot)
                _ = try? PCIBinding.bind(slot: firstSlot, to: "uio_pci_generic")
                _ = try? PCIBinding.bind(slot: secondSlot, to: "uio_pci_generic")
            }
            try #require(secondNow.number == first.number, "the kernel gave the first device's number to the second")
            try #require(firstNow.number == second.number)

            let (owner, config) = try Self.owner(of: secondNow)
            let error = try #require(throws: UIOError.self) { try first.open() }
            #expect(error.code == .deviceRemoved)
            #expect(try config.command() & Self.busMaster != 0, "the stale open touched the device that has the number now")
            owner.close()

            // Rediscovered, the first device opens at its new number and is itself.
            let handle = try firstNow.open()
            defer { handle.close() }
            #expect(handle.device.parent?.sysName == firstSlot)
            #expect(try handle.mapRegion(0).read(UInt32.self, at: Edu.identification) == 0x0100_00ed)
        }
    }
}
