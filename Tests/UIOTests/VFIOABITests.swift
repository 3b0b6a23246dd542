import Testing
import TestSupport
@testable import UIO

/// VFIO's request numbers and argument layouts, pinned to what `<linux/vfio.h>` (6.1) compiles to.
@Suite("VFIO ABI")
struct VFIOABITests {
    @Test("request numbers are _IO(';', 100 + n)")
    func requestNumbers() {
        #expect(VFIORequest.getAPIVersion == 0x3B64)
        #expect(VFIORequest.groupGetDeviceFD == 0x3B6A)
        #expect(VFIORequest.deviceSetIRQs == 0x3B6E)
        #expect(VFIORequest.deviceReset == 0x3B6F)
        #expect(VFIORequest.iommuMapDMA == 0x3B71)
        #expect(VFIORequest.iommuUnmapDMA == 0x3B72)
    }

    @Test("vfio_irq_set: argsz, flags, index, start, count, then one s32 fd each at 20")
    func irqSet() {
        let argument = VFIOIRQSet.argument(flags: VFIOConstant.dataEventfd | VFIOConstant.actionTrigger, index: .msix, start: 1, count: 2,
                                           fds: [7, -1])
        #expect(argument.bytes.count == 28)
        #expect(argument.get32(at: 0) == 28)
        #expect(argument.get32(at: 4) == 0x24)
        #expect(argument.get32(at: 8) == 2)
        #expect(argument.get32(at: 12) == 1 && argument.get32(at: 16) == 2)
        #expect(argument.get32(at: 20) == 7 && argument.get32(at: 24) == UInt32.max)
        #expect(argument.bytes[20...23] == [7, 0, 0, 0], "little-endian")
    }

    @Test("vfio_iommu_type1_dma_map: 32 bytes, read and write, vaddr at 8, iova at 16, size at 24")
    func dmaMap() {
        let map = VFIODMAMapping.map(virtualAddress: 0x7f00_1234_5000, iova: 0x10000, length: 0x2000)
        #expect(map.bytes.count == 32 && map.get32(at: 0) == 32 && map.get32(at: 4) == 3)
        #expect(map.get64(at: 8) == 0x7f00_1234_5000 && map.get64(at: 16) == 0x10000 && map.get64(at: 24) == 0x2000)
        let unmap = VFIODMAMapping.unmap(iova: 0x10000, length: 0x2000)
        #expect(unmap.bytes.count == 24 && unmap.get64(at: 8) == 0x10000 && unmap.get64(at: 16) == 0x2000)
    }

    @Test("vfio_region_info: flags at 4, size at 16, offset at 24")
    func regionInfo() {
        var argument = VFIORegionInfo.request(index: 7)
        #expect(argument.get32(at: 0) == 32 && argument.get32(at: 8) == 7)
        argument.set32(0x3, at: 4)
        argument.set64(0x100, at: 16)
        argument.set64(0x700_0000_0000, at: 24)
        let info = VFIORegionInfo(argument)
        #expect(info.isReadable && info.isWritable && !info.isMappable)
        #expect(info.length == 0x100 && info.offset == 0x700_0000_0000)
    }

    /// The IOMMU info the edu guest answered (VFIO.md): page sizes, then the IOVA-range
    /// capability and the DMA-available one, chained by offsets from the buffer's start.
    @Test("the IOMMU info's capability chain: IOVA ranges (inclusive ends) and mappings available")
    func iommuInfo() {
        var argument = VFIOArgument(size: VFIOIOMMUInfo.size)
        argument.set32(0x3, at: 4)
        argument.set64(0x4020_1000, at: 8)
        argument.set32(24, at: 16)
        // IOVA ranges at 24: id 1, version 1, next 72; two ranges.
        argument.set32(0x0001_0001, at: 24)
        argument.set32(72, at: 28)
        argument.set32(2, at: 32)
        argument.set64(0, at: 40)
        argument.set64(0xFEDF_FFFF, at: 48)
        argument.set64(0xFEF0_0000, at: 56)
        argument.set64(0x7F_FFFF_FFFF, at: 64)
        // DMA available at 72: id 3, version 1, last.
        argument.set32(0x0001_0003, at: 72)
        argument.set32(0, at: 76)
        argument.set32(65535, at: 80)
        let info = VFIOIOMMUInfo(argument)
        #expect(info.smallestPage == 4096)
        #expect(info.ranges == [0...0xFEDF_FFFF, 0xFEF0_0000...0x7F_FFFF_FFFF])
        #expect(info.mappingsAvailable == 65535)
    }

    @Test("a capability chain that loops or points outside the buffer ends without a crash")
    func malformedChain() {
        var argument = VFIOArgument(size: 64)
        argument.set32(24, at: 16)
        argument.set32(0x0001_0001, at: 24)
        argument.set32(24, at: 28)  // points at itself
        argument.set32(1000, at: 32)  // more ranges than fit
        let info = VFIOIOMMUInfo(argument)
        #expect(info.ranges.count <= 2)
        var outside = VFIOArgument(size: 32)
        outside.set32(4000, at: 16)
        #expect(VFIOIOMMUInfo(outside).ranges.isEmpty)
    }
}

/// The IOVA allocator: lowest fit, aligned, under the device's limit, merged on release.
@Suite("IOVA allocator")
struct IOVAAllocatorTests {
    @Test("first fit from 64 KiB up, aligned, never past the limit")
    func lowestFit() {
        var allocator = IOVAAllocator(ranges: [0...0xFEDF_FFFF, 0xFEF0_0000...0x7F_FFFF_FFFF])
        #expect(allocator.allocate(length: 0x1000, alignment: 0x1000, limit: .max) == 0x10000)
        #expect(allocator.allocate(length: 0x1000, alignment: 0x10000, limit: .max) == 0x20000)
        #expect(allocator.allocate(length: 0x1000, alignment: 0x1000, limit: .max) == 0x11000, "the gap left by alignment is used")
        #expect(allocator.allocate(length: 0x1000_0000, alignment: 0x1000, limit: 0x0FFF_FFFF) == nil, "256 MiB does not fit under 28 bits above 64 KiB")
        #expect(allocator.allocate(length: 0x200_0000, alignment: 0x1000, limit: 0xFFFF_FFFF) != nil)
    }

    @Test("a block straddling the hole is placed past it")
    func skipsTheHole() {
        var allocator = IOVAAllocator(ranges: [0...0xFEDF_FFFF, 0xFEF0_0000...0x7F_FFFF_FFFF])
        #expect(allocator.allocate(length: 0xFED0_0000, alignment: 0x1000, limit: .max) == 0x10000)
        #expect(allocator.allocate(length: 0x20_0000, alignment: 0x1000, limit: .max) == 0xFEF0_0000)
    }

    @Test("released blocks merge with both neighbours and are given again")
    func merges() {
        var allocator = IOVAAllocator(ranges: [0...0xFFFF_FFFF])
        let a = allocator.allocate(length: 0x1000, alignment: 0x1000, limit: .max)!
        let b = allocator.allocate(length: 0x1000, alignment: 0x1000, limit: .max)!
        let c = allocator.allocate(length: 0x1000, alignment: 0x1000, limit: .max)!
        allocator.release(start: a, length: 0x1000)
        allocator.release(start: c, length: 0x1000)
        allocator.release(start: b, length: 0x1000)
        #expect(allocator.free == [0x10000...0xFFFF_FFFF])
        #expect(allocator.allocate(length: 0x3000, alignment: 0x1000, limit: .max) == a)
    }

    @Test("fixed-seed random allocations and releases never overlap and always return the space (property)")
    func neverOverlaps() {
        var allocator = IOVAAllocator(ranges: [0...0xF_FFFF, 0x20_0000...0x2F_FFFF])
        var generator = SplitMix64(seed: 0x10fa)
        var live: [(UInt64, UInt64)] = []
        for _ in 0..<2_000 {
            if !live.isEmpty && generator.next() % 3 == 0 {
                let (start, length) = live.remove(at: Int(generator.next() % UInt64(live.count)))
                allocator.release(start: start, length: length)
                continue
            }
            let length = (generator.next() % 16 + 1) * 0x1000
            let alignment: UInt64 = 1 << (12 + generator.next() % 5)
            guard let start = allocator.allocate(length: length, alignment: alignment, limit: .max) else { continue }
            #expect(start % alignment == 0 && start >= IOVAAllocator.lowest)
            #expect(!live.contains { start < $0.0 + $0.1 && $0.0 < start + length }, "overlap at 0x\(String(start, radix: 16))")
            live.append((start, length))
        }
        for (start, length) in live { allocator.release(start: start, length: length) }
        #expect(allocator.free == [0x10000...0xF_FFFF, 0x20_0000...0x2F_FFFF])
    }
}
