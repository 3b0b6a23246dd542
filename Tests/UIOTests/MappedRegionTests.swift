import Testing
import UIO
import UIOTesting

@Suite("Mapped regions")
struct MappedRegionTests {
    @Test("each width reads back what was written, little-endian in memory")
    func roundTrip() throws {
        let device = try SimulatedDevice(mapSizes: [64])
        let region = try device.mapRegion(0)
        try region.write(UInt8(0xab), at: 0)
        try region.write(UInt16(0xbeef), at: 2)
        try region.write(UInt32(0x0100_00ed), at: 4)
        try region.write(UInt64(0x0123_4567_89ab_cdef), at: 8)
        #expect(try region.read(UInt8.self, at: 0) == 0xab)
        #expect(try region.read(UInt16.self, at: 2) == 0xbeef)
        #expect(try region.read(UInt32.self, at: 4) == 0x0100_00ed)
        #expect(try region.read(UInt64.self, at: 8) == 0x0123_4567_89ab_cdef)
        #expect(try region.read(UInt8.self, at: 4) == 0xed)
    }

    @Test("two mappings of one map see the same memory")
    func shared() throws {
        let device = try SimulatedDevice(mapSizes: [4096])
        let first = try device.mapRegion(0)
        let second = try device.mapRegion(0)
        try first.write(UInt32(0x1234_5678), at: 0x20)
        #expect(try second.read(UInt32.self, at: 0x20) == 0x1234_5678)
    }

    @Test("an access reaching past the end throws outOfBounds and touches nothing", arguments: [
        (60, 8), (64, 1), (62, 4), (-4, 4), (Int.max - 1, 2), (Int.min, 1),
    ])
    func outOfBounds(offset: Int, width: Int) throws {
        let region = try SimulatedDevice(mapSizes: [64]).mapRegion(0)
        let error = try #require(throws: UIOError.self) {
            switch width {
            case 1: _ = try region.read(UInt8.self, at: offset)
            case 2: try region.write(UInt16(1), at: offset)
            case 4: _ = try region.read(UInt32.self, at: offset)
            default: try region.write(UInt64(1), at: offset)
            }
        }
        #expect(error.code == .outOfBounds)
        #expect(error.description.contains("offset \(offset)"))
    }

    @Test("a misaligned access throws misaligned", arguments: [(1, 2), (2, 4), (4, 8), (6, 8)])
    func misaligned(offset: Int, width: Int) throws {
        let region = try SimulatedDevice(mapSizes: [64]).mapRegion(0)
        let error = try #require(throws: UIOError.self) {
            switch width {
            case 2: _ = try region.read(UInt16.self, at: offset)
            case 4: try region.write(UInt32(1), at: offset)
            default: _ = try region.read(UInt64.self, at: offset)
            }
        }
        #expect(error.code == .misaligned)
    }

    @Test("a register is checked once when made, then reads and writes like the region")
    func registers() throws {
        let region = try SimulatedDevice(mapSizes: [64]).mapRegion(0)
        let status = try region.register(UInt32.self, at: 0x24)
        status.write(0xdead_beef)
        #expect(status.read() == 0xdead_beef)
        #expect(try region.read(UInt32.self, at: 0x24) == 0xdead_beef)
        #expect(status.offset == 0x24)
        #expect(throws: UIOError.self) { try region.register(UInt32.self, at: 62) }
        #expect(throws: UIOError.self) { try region.register(UInt64.self, at: 4) }
    }

    @Test("a map index the device does not have throws noSuchRegion")
    func noSuchMap() throws {
        let error = try #require(throws: UIOError.self) { try SimulatedDevice(mapSizes: [64]).mapRegion(1) }
        #expect(error.code == .noSuchRegion)
    }
}
