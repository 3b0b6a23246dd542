import SystemPackage
import Testing
import UIO
import UIOTesting

@Suite("PCI config space")
struct ConfigSpaceTests {
    @Test("reads the ids and command register little-endian")
    func reads() throws {
        let config = try SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()
        #expect(config.size == 256)
        #expect(try config.read16(at: 0) == 0x1234)
        #expect(try config.read16(at: 2) == 0x11e8)
        #expect(try config.read32(at: 0) == 0x11e8_1234)
        #expect(try config.command() == 0x0002)
        #expect(try config.read8(at: 4) == 0x02)
    }

    @Test("setting and clearing Interrupt Disable touches bit 10 only")
    func interruptDisable() throws {
        let config = try SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()
        try config.write8(0x01, at: 5)  // another bit in the high byte must survive
        try config.setInterruptDisabled(true)
        #expect(try config.command() == 0x0502)
        #expect(try config.isInterruptDisabled())
        try config.setInterruptDisabled(false)
        #expect(try config.command() == 0x0102)
        #expect(try !config.isInterruptDisabled())
    }

    @Test("interrupt pending reads status bit 3")
    func pending() throws {
        let config = try SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()
        #expect(try !config.isInterruptPending())
        try config.write16(0x0008, at: ConfigSpace.statusOffset)
        #expect(try config.isInterruptPending())
    }

    @Test("an access past the config space or misaligned throws", arguments: [(256, 1, UIOError.Code.outOfBounds), (254, 4, .outOfBounds), (-1, 1, .outOfBounds), (3, 2, .misaligned), (2, 4, .misaligned)])
    func bounds(offset: Int, width: Int, code: UIOError.Code) throws {
        let config = try SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()
        let error = try #require(throws: UIOError.self) {
            switch width {
            case 1: _ = try config.read8(at: offset)
            case 2: _ = try config.read16(at: offset)
            default: try config.write32(0, at: offset)
            }
        }
        #expect(error.code == code)
    }

    @Test("EINTR is retried; other errnos surface with the path")
    func errnos() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        device.failNext(.configRead, with: .interrupted)
        #expect(try config.command() == 0x0002)
        device.failNext(.configWrite, with: .permissionDenied)
        let error = try #require(throws: UIOError.self) { try config.setInterruptDisabled(true) }
        #expect(error.code == .permissionDenied)
        #expect(error.subject.hasSuffix("/config"))
    }

    @Test("after close every access throws closed")
    func closed() throws {
        let config = try SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()
        config.close()
        config.close()
        let error = try #require(throws: UIOError.self) { try config.command() }
        #expect(error.code == .closed)
    }
}
