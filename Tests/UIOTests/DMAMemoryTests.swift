import SystemPackage
import Testing
import UIO
import UIOTesting

@Suite("DMA memory: huge pages, pagemap, the device's reach")
struct DMAMemoryTests {
    static let twoMiB = 2 << 20

    @Test("a buffer's device address is its huge page's physical address; what the driver writes, the device reads there, and back")
    func roundTrip() throws {
        let device = try SimulatedDevice()
        let buffer = try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max)
        #expect(buffer.deviceAddress == 0x0400_0000)
        #expect(buffer.length == 4096)
        try buffer.write(UInt32(0xfeed_beef), at: 8)
        try buffer.copyBytes([1, 2, 3], to: 100)
        let seen = try #require(device.dmaMemory(at: buffer.deviceAddress, count: 4096))
        #expect(seen.load(fromByteOffset: 8, as: UInt32.self) == 0xfeed_beef)
        #expect(Array(seen[100..<103]) == [1, 2, 3])
        seen.storeBytes(of: UInt64(0x1122_3344_5566_7788), toByteOffset: 16, as: UInt64.self)
        #expect(try buffer.read(UInt64.self, at: 16) == 0x1122_3344_5566_7788)
        #expect(try buffer.bytes(at: 16, count: 2) == [0x88, 0x77])
        #expect(try buffer.deviceAddress(at: 100) == 0x0400_0064)
    }

    @Test("buffers are carved from one huge page, each aligned as asked; the page goes back when the last one goes")
    func carving() throws {
        let device = try SimulatedDevice()
        var first: DMABuffer? = try device.allocateDMAMemory(length: 100, alignment: 64, addressLimit: .max)
        var second: DMABuffer? = try device.allocateDMAMemory(length: 100, alignment: 4096, addressLimit: .max)
        #expect(device.freeHugePages == 7)
        #expect(second!.deviceAddress == first!.deviceAddress + 4096)
        #expect(second!.baseAddress == first!.baseAddress + 4096)
        var third: DMABuffer? = try device.allocateDMAMemory(length: Self.twoMiB - 4096, alignment: 64, addressLimit: .max)
        #expect(device.freeHugePages == 6)  // did not fit in the first page's rest
        #expect(third!.deviceAddress == 0x0420_0000)
        first = nil
        #expect(device.freeHugePages == 6)  // the second buffer still holds the first page
        second = nil
        #expect(device.freeHugePages == 7)  // the last buffer of the page being carved went
        third = nil
        #expect(device.freeHugePages == 8)
        _ = (first, second, third)
    }

    @Test("no huge pages free: a typed error that says how to reserve them")
    func noHugePages() throws {
        let device = try SimulatedDevice()
        device.freeHugePages = 0
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max)
        }
        #expect(error.code == .dmaMemoryUnavailable)
        #expect(error.errno == .noMemory)
        #expect(error.description.contains("HugePages_Free: 0"))
        #expect(error.advice?.contains("vm.nr_hugepages") == true)
    }

    @Test("pagemap without CAP_SYS_ADMIN gives frame 0: permission denied, naming the capability; the page goes back")
    func hiddenFrames() throws {
        let device = try SimulatedDevice()
        device.hidesPhysicalAddresses = true
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max)
        }
        #expect(error.code == .permissionDenied)
        #expect(error.subject == "/proc/self/pagemap")
        #expect(error.advice?.contains("CAP_SYS_ADMIN") == true)
        #expect(device.freeHugePages == 8)
    }

    @Test("huge pages the kernel cannot fault in (a hugetlb cgroup limit): a typed error; the page goes back")
    func faultInFails() throws {
        let device = try SimulatedDevice()
        device.failsToFaultInHugePages = true
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max)
        }
        #expect(error.code == .dmaMemoryUnavailable)
        #expect(error.advice?.contains("cgroup") == true)
        #expect(device.freeHugePages == 8)
    }

    @Test("a closed device gives no memory")
    func afterClose() throws {
        let device = try SimulatedDevice()
        _ = try device.allocateDMAMemory(length: 64, alignment: 64, addressLimit: .max)
        device.close()
        let error = try #require(throws: UIOError.self) { try device.allocateDMAMemory(length: 64, alignment: 64, addressLimit: .max) }
        #expect(error.code == .closed)
    }

    @Test("memory beyond the device's address width is refused before the device could be given it")
    func beyondReach() throws {
        let device = try SimulatedDevice()
        let limit: UInt64 = (1 << 28) - 1  // edu's default DMA mask
        device.nextHugePageAddress = 0x0fe0_0000  // the last huge page below 256 MiB
        let last = try device.allocateDMAMemory(length: Self.twoMiB, alignment: 64, addressLimit: limit)
        #expect(last.deviceAddress + UInt64(last.length) - 1 == limit)
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: limit)
        }
        #expect(error.code == .addressBeyondDeviceReach)
        #expect(error.reason.contains("0x10000000"))
        #expect(error.reason.contains("0xfffffff"))
    }

    @Test("a huge page beyond the device's reach is passed over for one within it, and given back to the pool")
    func reachablePageFromThePool() throws {
        let device = try SimulatedDevice()
        let limit: UInt64 = (1 << 28) - 1
        device.queuedHugePageAddresses = [0x7d40_0000, 0x3f00_0000, 0x0200_0000]  // as a 6.12 boot handed them out
        let free = device.freeHugePages
        let buffer = try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: limit)
        #expect(buffer.deviceAddress == 0x0200_0000)
        #expect(device.freeHugePages == free - 1, "the two pages beyond reach went back")
        // A buffer the device reaches anywhere still comes from the page being carved.
        let wide = try device.allocateDMAMemory(length: 4096, alignment: 4096, addressLimit: .max)
        #expect(wide.deviceAddress == 0x0200_1000)
    }

    @Test("with no page of the pool within reach, the lowest is named in the refusal and every page goes back")
    func noReachablePage() throws {
        let device = try SimulatedDevice()
        device.freeHugePages = 3
        device.queuedHugePageAddresses = [0x7d40_0000, 0x3f00_0000, 0x4000_0000]
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: (1 << 28) - 1)
        }
        #expect(error.code == .addressBeyondDeviceReach)
        #expect(error.reason.contains("0x3f000000"))
        #expect(device.freeHugePages == 3)
    }

    @Test("a buffer longer than a huge page needs physically adjacent pages, or is refused")
    func longerThanAHugePage() throws {
        let device = try SimulatedDevice()
        let long = try device.allocateDMAMemory(length: 3 << 20, alignment: 64, addressLimit: .max)
        #expect(long.length == 3 << 20)
        #expect(device.freeHugePages == 6)
        #expect(device.dmaMemory(at: long.deviceAddress + UInt64(Self.twoMiB), count: 16) != nil)
        device.hugePagesAreAdjacent = false
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: 3 << 20, alignment: 64, addressLimit: .max)
        }
        #expect(error.code == .dmaMemoryUnavailable)
        #expect(error.reason.contains("not physically adjacent"))
        #expect(device.freeHugePages == 6)
    }

    @Test("bad lengths and alignments are refused", arguments: [(0, 64), (-1, 64), (64, 3), (64, 0), (64, 4 << 20), (Int.max, 64)])
    func badRequests(length: Int, alignment: Int) throws {
        let device = try SimulatedDevice()
        let error = try #require(throws: UIOError.self) {
            try device.allocateDMAMemory(length: length, alignment: alignment, addressLimit: .max)
        }
        #expect(error.code == .outOfBounds)
        #expect(device.freeHugePages == 8)
    }

    @Test("accesses are bounds- and alignment-checked", arguments: [(4096, 1, UIOError.Code.outOfBounds), (4093, 4, .outOfBounds), (-1, 1, .outOfBounds), (2, 4, .misaligned), (4, 8, .misaligned)])
    func accessChecks(offset: Int, width: Int, code: UIOError.Code) throws {
        let buffer = try SimulatedDevice().allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max)
        let error = try #require(throws: UIOError.self) {
            switch width {
            case 1: _ = try buffer.read(UInt8.self, at: offset)
            case 4: try buffer.write(UInt32(0), at: offset)
            default: _ = try buffer.read(UInt64.self, at: offset)
            }
        }
        #expect(error.code == code)
        #expect(throws: UIOError.self) { try buffer.copyBytes([1, 2], to: 4095) }
        #expect(throws: UIOError.self) { try buffer.bytes(at: 4000, count: 97) }
    }
}

@Suite("Bus Master: held on, released, and lost under the driver")
struct BusMasterTests {
    @Test("acquire and release touch bit 2 only, and leave Interrupt Disable as the kernel set it")
    func onOff() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        #expect(!device.isBusMastering)
        try config.write16(0x0402, at: ConfigSpace.commandOffset)  // INTx masked by the kernel's handler
        try config.acquireBusMastering()
        #expect(try config.command() == 0x0406)
        #expect(device.isBusMastering)
        #expect(try config.isBusMastering())
        try config.releaseBusMastering()
        #expect(try config.command() == 0x0402)
        try config.releaseBusMastering()  // an extra release changes nothing
        #expect(try config.command() == 0x0402)
    }

    @Test("two holders of one function: the first release leaves Bus Master on, the last turns it off")
    func twoHolders() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let first = try device.configSpace()
        let second = try device.configSpace()
        try first.acquireBusMastering()
        try second.acquireBusMastering()
        #expect(try !first.releaseBusMastering(), "still on for the other holder")
        #expect(device.isBusMastering)
        #expect(try second.releaseBusMastering())
        #expect(!device.isBusMastering)
    }

    @Test("a second holder's acquire does not hide a loss the first holder has not seen")
    func acquireCountsALoss() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let first = try device.configSpace()
        try first.acquireBusMastering()
        try device.open(exclusive: false).close()
        let second = try device.configSpace()
        try second.acquireBusMastering()
        #expect(device.isBusMastering)
        #expect(try first.checkBusMastering() == 1)
    }

    @Test("another open file's close turns Bus Master off (uio_pci_generic's release); the check counts the loss once and turns it back on")
    func lostToAnotherClose() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        try config.acquireBusMastering()
        #expect(try config.checkBusMastering() == 0)
        try device.open(exclusive: false).close()
        #expect(!device.isBusMastering)
        #expect(try config.checkBusMastering() == 1)
        #expect(device.isBusMastering)
        #expect(try config.checkBusMastering() == 1)
        #expect(config.busMasterLossCount == 1)
    }

    @Test("a close of one descriptor of an open file that has another is no release: Bus Master stays on")
    func duplicateIsNoRelease() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        try config.acquireBusMastering()
        let handle = try device.open(exclusive: false)
        do {
            let line = try handle.interruptLine()  // a duplicate of the handle's file
            line.close()
        }
        #expect(device.isBusMastering)
        handle.close()  // the file's last descriptor
        #expect(!device.isBusMastering)
    }

    @Test("a command-register update (the interrupt re-arm) notices the loss; it is counted once")
    func noticedByReArm() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        try config.acquireBusMastering()
        try device.open(exclusive: false).close()
        try config.setInterruptDisabled(false)
        try config.setInterruptDisabled(true)
        #expect(config.busMasterLossCount == 1)
        #expect(try config.checkBusMastering() == 1)
        #expect(device.isBusMastering)
        try device.open(exclusive: false).close()
        #expect(try config.checkBusMastering() == 2)
    }

    @Test("without a hold nothing is watched")
    func unheld() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let config = try device.configSpace()
        try device.open(exclusive: false).close()
        try config.setInterruptDisabled(false)
        #expect(try config.checkBusMastering() == 0)
        #expect(!device.isBusMastering)
    }
}
