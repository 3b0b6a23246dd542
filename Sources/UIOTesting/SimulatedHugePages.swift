import UIOPlatform
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's huge pages and `/proc/self/pagemap`, simulated: what the device layer's DMA
/// memory asks of the kernel, answered with ordinary memory at made-up physical addresses, so
/// DMA code runs on a machine with no huge pages reserved and without `CAP_SYS_ADMIN`.
final class SimulatedHugePages: Sendable {
    static let hugePageSize = 2 << 20

    struct State {
        /// Huge pages the simulated kernel still has.
        var free = 8
        /// Where the next huge page lies in simulated physical memory.
        var nextPhysical: UInt64 = 0x0400_0000
        /// Where the next pages lie, in the order handed out, before `nextPhysical` is used again:
        /// a pool the kernel hands out in an order of its own.
        var queued: [UInt64] = []
        /// Whether consecutive huge pages lie next to each other physically.
        var adjacent = true
        /// Whether pagemap hides frame numbers, as from a reader without CAP_SYS_ADMIN.
        var hidesFrames = false
        /// Whether faulting the pages in fails with ENOMEM (a hugetlb cgroup limit).
        var populateFails = false
        /// Memory files made with MFD_HUGETLB.
        var hugeFiles: Set<Int32> = []
        var pagemapFiles: Set<Int32> = []
        var mappings: [Mapping] = []
    }

    struct Mapping {
        var address: UInt
        var length: Int
        /// Each huge page's simulated physical address.
        var physical: [UInt64]
    }

    let state = Locked(State(), countingAcquisitions: false)
    private let live = SystemCalls.live

    func createFile(hugePages: Bool) -> Result<Int32, Errno> {
        live.createDMAFile(false).map { fd in
            if hugePages { state.withLock { _ = $0.hugeFiles.insert(fd) } }
            return fd
        }
    }

    func isHugeFile(_ fd: Int32) -> Bool { state.withLock { $0.hugeFiles.contains(fd) } }
    func isPagemap(_ fd: Int32) -> Bool { state.withLock { $0.pagemapFiles.contains(fd) } }

    /// `mmap` of a huge-page file: ENOMEM unless enough pages are free, as hugetlbfs reserves them.
    func map(_ fd: Int32, _ length: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let pages = length / Self.hugePageSize
        let physical: [UInt64]? = state.withLock { state in
            guard length % Self.hugePageSize == 0, pages <= state.free else { return nil }
            state.free -= pages
            return (0..<pages).map { _ in
                if !state.queued.isEmpty { return state.queued.removeFirst() }
                defer { state.nextPhysical += UInt64(Self.hugePageSize) * (state.adjacent ? 1 : 2) }
                return state.nextPhysical
            }
        }
        guard let physical else { return .failure(length % Self.hugePageSize == 0 ? .noMemory : .invalidArgument) }
        return live.mmap(fd, length, 0).map { address in
            state.withLock { $0.mappings.append(Mapping(address: UInt(bitPattern: address), length: length, physical: physical)) }
            return address
        }.mapError { errno in
            state.withLock { $0.free += pages }
            return errno
        }
    }

    /// `munmap`: a huge-page mapping's pages go back to the pool. `nil` for other memory.
    func unmap(_ address: UnsafeMutableRawPointer) -> Bool {
        state.withLock { state in
            guard let index = state.mappings.firstIndex(where: { $0.address == UInt(bitPattern: address) }) else { return false }
            state.free += state.mappings[index].physical.count
            state.mappings.remove(at: index)
            return true
        }
    }

    func populate() -> Result<Void, Errno> {
        state.withLock { $0.populateFails } ? .failure(.noMemory) : .success(())
    }

    func openPagemap() -> Result<Int32, Errno> {
        createMemoryFile(name: "pagemap").map { fd in
            state.withLock { _ = $0.pagemapFiles.insert(fd) }
            return fd
        }
    }

    func close(_ fd: Int32) {
        state.withLock { state in
            state.hugeFiles.remove(fd)
            state.pagemapFiles.remove(fd)
        }
    }

    /// A pagemap read: one 64-bit entry per page, present with its frame for simulated huge
    /// pages, absent for anything else.
    func readPagemap(_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Result<Int, Errno> {
        guard offset % 8 == 0, buffer.count == 8 else { return .failure(.invalidArgument) }
        let virtual = UInt(offset / 8) * UInt(pageSize)
        let entry: UInt64 = state.withLock { state in
            guard let mapping = state.mappings.first(where: { virtual >= $0.address && virtual < $0.address + UInt($0.length) }) else { return 0 }
            let within = Int(virtual - mapping.address)
            let physical = mapping.physical[within / Self.hugePageSize] + UInt64(within % Self.hugePageSize)
            return 1 << 63 | (state.hidesFrames ? 0 : physical / UInt64(pageSize))
        }
        buffer.storeBytes(of: entry, as: UInt64.self)
        return .success(8)
    }

    /// The memory at simulated physical address `physical`, `count` bytes, if it is all within
    /// one simulated huge-page mapping.
    func memory(at physical: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, physical <= UInt64.max - UInt64(count) else { return nil }
        return state.withLock { state in
            for mapping in state.mappings {
                for (page, base) in mapping.physical.enumerated()
                where physical >= base && physical + UInt64(count) <= base + UInt64(Self.hugePageSize) {
                    let address = mapping.address + UInt(page * Self.hugePageSize) + UInt(physical - base)
                    return UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address), count: count)
                }
            }
            return nil
        }
    }

    /// `/proc/meminfo`, the lines DMA memory reads.
    var meminfo: String {
        "HugePages_Free: \(state.withLock { $0.free })\nHugePages_Rsvd: 0\nHugepagesize: \(Self.hugePageSize / 1024) kB\n"
    }
}
