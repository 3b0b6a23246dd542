import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// DMA memory for a backend whose device sees physical addresses (UIO): huge pages, faulted in,
/// carved into buffers.
///
/// A huge page is physically contiguous, is never swapped, and is not moved by compaction or NUMA
/// balancing, so its physical address, read once from `/proc/self/pagemap`, stays true while it is
/// mapped — unless the kernel migrates it (memory being offlined, a contiguous allocation such as
/// CMA, `move_pages`, `mbind` with `MPOL_MF_MOVE`), which nothing in userspace can forbid (`mlock`
/// does nothing for huge pages); VFIO's pinning can. The pages are a `memfd` of `MFD_HUGETLB`
/// mapped shared, faulted in at once, and marked `MADV_DONTFORK`: a `fork` of the driver never
/// turns them copy-on-write, which would move the parent's page away from the device.
///
/// Buffers are carved from one huge page at a time, each aligned as asked; a buffer longer than a
/// huge page gets pages of its own, and is refused unless they happen to be physically adjacent.
/// A page beyond the device's reach is passed over for another of the pool, if one is in reach
/// (<doc:KernelContract#Between-kernels>).
public final class HugePageDMAMemory: Sendable {
    private let system: SystemCalls
    private let current = Locked<Carving?>(nil)

    /// The huge page being carved; weak, so it is freed when its last buffer goes.
    private struct Carving {
        weak var memory: HugePageMapping?
        var used: Int
    }

    /// How many huge pages one allocation tries, at most, for one within the device's reach.
    public static let pagesTriedForReach = 64

    /// The process's huge-page memory, shared by every device that has no memory of its own.
    public static let shared = HugePageDMAMemory()

    /// Memory through `system` (the kernel, or a simulation).
    public init(system: SystemCalls = .live) {
        self.system = system
    }

    /// A buffer of `length` bytes whose device address is a multiple of `alignment` (a power of
    /// two, at most the huge page size) and whose last byte's address is at most `addressLimit`.
    public func allocate(length: Int, alignment: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        let hugePage = try Self.hugePageSize(system: system)
        guard length > 0, alignment > 0, alignment & (alignment - 1) == 0, alignment <= hugePage else {
            throw UIOError(.outOfBounds, subject: "DMA memory",
                           reason: "a buffer of \(length) bytes aligned to \(alignment): the length must be positive and the alignment a power of two no larger than a huge page (\(hugePage) bytes)")
        }
        if length > hugePage {
            // A length no machine has is refused before its page count could overflow.
            guard length <= 1 << 46 else {
                throw UIOError(.outOfBounds, subject: "DMA memory", reason: "a buffer of \(length) bytes is longer than any memory")
            }
            let pages = (length + hugePage - 1) / hugePage
            let memory = try HugePageMapping(length: pages * hugePage, hugePage: hugePage, system: system)
            try memory.requireContiguous()
            return try carve(memory, at: 0, length: length, addressLimit: addressLimit)
        }
        return try current.withLock { (carving: inout Carving?) throws(UIOError) -> DMABuffer in
            if let existing = carving, let memory = existing.memory {
                let offset = (existing.used + alignment - 1) & ~(alignment - 1)
                if offset + length <= memory.length, memory.physicalBase + UInt64(offset + length) - 1 <= addressLimit {
                    let buffer = try carve(memory, at: offset, length: length, addressLimit: addressLimit)
                    carving?.used = offset + length
                    return buffer
                }
            }
            let memory = try reachablePage(hugePage, length: length, addressLimit: addressLimit)
            let buffer = try carve(memory, at: 0, length: length, addressLimit: addressLimit)
            carving = Carving(memory: memory, used: length)
            return buffer
        }
    }

    /// A fresh huge page whose first `length` bytes lie at or below `addressLimit`, or, when the
    /// pool has none, the lowest page it gave (which `carve` then refuses, naming its addresses).
    ///
    /// The kernel hands out its pool's pages in an order of its own: on 6.1 the low ones first,
    /// on 6.12 (which fills the pool from several threads at boot) an order that changes from
    /// boot to boot. So a page beyond the device's reach is held while the next is tried, at most
    /// as many as the pool has free and ``pagesTriedForReach``, and all but the one returned are
    /// given back. Each page tried is faulted in (and zeroed by the kernel) first.
    private func reachablePage(_ hugePage: Int, length: Int, addressLimit: UInt64) throws(UIOError) -> HugePageMapping {
        let free = (try? Self.meminfo(system: system))?["HugePages_Free"] ?? 1
        var beyondReach: [HugePageMapping] = []
        for _ in 0..<min(max(1, free), Self.pagesTriedForReach) {
            let memory: HugePageMapping
            do {
                memory = try HugePageMapping(length: hugePage, hugePage: hugePage, system: system)
            } catch where error.code == .dmaMemoryUnavailable && !beyondReach.isEmpty {
                break  // the pool ran out
            }
            if memory.physicalBase + UInt64(length) - 1 <= addressLimit { return memory }
            beyondReach.append(memory)
        }
        return beyondReach.min { $0.physicalBase < $1.physicalBase }!
    }

    private func carve(_ memory: HugePageMapping, at offset: Int, length: Int, addressLimit: UInt64) throws(UIOError) -> DMABuffer {
        let address = memory.physicalBase + UInt64(offset)
        let last = address + UInt64(length) - 1
        guard last <= addressLimit else {
            throw UIOError(.addressBeyondDeviceReach, subject: "DMA memory",
                           reason: "the buffer lies at physical 0x\(String(address, radix: 16))–0x\(String(last, radix: 16)), beyond the device's reach (0x\(String(addressLimit, radix: 16)) is the highest address it can use); the device was not given it",
                           advice: "reserve huge pages early in boot (the hugepages= kernel parameter), when low memory is still free, or use VFIO, whose IOMMU places buffers where the device reaches")
        }
        return DMABuffer(name: "DMA buffer at 0x\(String(address, radix: 16))", baseAddress: memory.address + offset,
                         length: length, deviceAddress: address, memory: memory)
    }

    /// The size of a huge page, from `/proc/meminfo`.
    static func hugePageSize(system: SystemCalls) throws(UIOError) -> Int {
        guard let kilobytes = try meminfo(system: system)["Hugepagesize"], kilobytes > 0 else {
            throw UIOError(.dmaMemoryUnavailable, subject: "/proc/meminfo", reason: "no Hugepagesize: the kernel has no huge pages (CONFIG_HUGETLBFS)",
                           advice: "use a kernel with huge pages, or VFIO")
        }
        return kilobytes * 1024
    }

    /// `/proc/meminfo`'s numbers, by name (`HugePages_Free`, `Hugepagesize` in kB).
    static func meminfo(system: SystemCalls) throws(UIOError) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in try SysfsFile.read("/proc/meminfo", system: system, limit: 1 << 16).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if fields.count >= 2, let value = Int(fields[1]) { values[String(fields[0])] = value }
        }
        return values
    }
}

/// Huge pages mapped, faulted in, and translated: freed when the last buffer carved from them goes.
final class HugePageMapping: @unchecked Sendable {
    // @unchecked: immutable after init; the memory is unmapped only in deinit.
    let address: UnsafeMutableRawPointer
    let length: Int
    let hugePage: Int
    /// The physical address of the first byte.
    let physicalBase: UInt64
    private let system: SystemCalls

    init(length: Int, hugePage: Int, system: SystemCalls) throws(UIOError) {
        let subject = "DMA memory (\(length / 1024) KiB of huge pages)"
        let fd = try system.createDMAFile(true).get(operation: .other, subject: subject)
        defer { _ = system.close(fd) }
        try system.resizeFile(fd, Int64(length)).get(operation: .other, subject: subject)
        let address: UnsafeMutableRawPointer
        switch system.mmap(fd, length, 0) {
        case .success(let mapped): address = mapped
        case .failure(let errno) where errno == .noMemory:
            let info = (try? HugePageDMAMemory.meminfo(system: system)) ?? [:]
            let free = info["HugePages_Free"].map(String.init) ?? "unknown"
            let reserved = info["HugePages_Rsvd"].map(String.init) ?? "unknown"
            throw UIOError(.dmaMemoryUnavailable, subject: subject,
                           reason: "the kernel has too few unreserved huge pages (HugePages_Free: \(free), of them reserved: \(reserved)) for \(length / hugePage)",
                           errno: errno, advice: "reserve huge pages: sysctl vm.nr_hugepages=N, or hugepages=N on the kernel command line")
        case .failure(let errno):
            throw UIOError.system(errno, operation: .map, subject: subject)
        }
        // Faulted in now: the device may write before the driver ever touches the memory.
        switch system.populateDMAMemory(address, length) {
        case .success: break
        case .failure(let errno):
            _ = system.munmap(address, length)
            if errno == .noMemory || errno == .badAddress {
                throw UIOError(.dmaMemoryUnavailable, subject: subject,
                               reason: "the kernel could not fault in the huge pages it had reserved", errno: errno,
                               advice: "a hugetlb cgroup limit may be lower than the pages; raise it (hugetlb.2MB.max) or reserve fewer")
            }
            throw UIOError.system(errno, operation: .other, subject: subject)
        }
        do {
            physicalBase = try PhysicalAddresses.of(address, system: system)
        } catch {
            _ = system.munmap(address, length)
            throw error
        }
        self.address = address
        self.length = length
        self.hugePage = hugePage
        self.system = system
    }

    deinit { _ = system.munmap(address, length) }

    /// Throws unless every huge page lies right after the one before it in physical memory.
    func requireContiguous() throws(UIOError) {
        for page in stride(from: hugePage, to: length, by: hugePage) {
            let physical = try PhysicalAddresses.of(address + page, system: system)
            guard physical == physicalBase + UInt64(page) else {
                throw UIOError(.dmaMemoryUnavailable, subject: "DMA memory (\(length / 1024) KiB of huge pages)",
                               reason: "the huge pages are not physically adjacent (page \(page / hugePage) is at 0x\(String(physical, radix: 16))), so a buffer of \(length) bytes cannot be contiguous",
                               advice: "use buffers no longer than a huge page (\(hugePage / 1024) KiB), or VFIO, whose IOMMU makes scattered pages contiguous to the device")
            }
        }
    }
}
