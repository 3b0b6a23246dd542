import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Physical addresses of this process's memory, from `/proc/self/pagemap`: what a device on UIO
/// is given, since nothing translates its DMA.
///
/// Each page has a 64-bit entry: bit 63 "present", bits 0–54 the page frame number. Since
/// Linux 4.2 a reader without `CAP_SYS_ADMIN` gets the entries with every frame number zero.
enum PhysicalAddresses {
    static let path = "/proc/self/pagemap"

    /// The physical address of `address`, which must be resident (pinned memory is).
    static func of(_ address: UnsafeRawPointer, system: SystemCalls) throws(UIOError) -> UInt64 {
        let fd = try system.open(path, O_RDONLY).get(operation: .accessFile, subject: path)
        defer { _ = system.close(fd) }
        let virtual = UInt(bitPattern: address)
        let page = UInt(pageSize)
        var entry: UInt64 = 0
        let count = try withUnsafeMutableBytes(of: &entry) { buffer in
            retryingOnInterrupt { system.pread(fd, buffer, Int64(virtual / page) * 8) }
        }.get(operation: .accessFile, subject: path)
        guard count == 8 else {
            throw UIOError(.systemCall, subject: path, reason: "read \(count) of the 8 bytes of the entry for 0x\(String(virtual, radix: 16))")
        }
        guard entry & (1 << 63) != 0 else {
            throw UIOError(.systemCall, subject: path, reason: "the page at 0x\(String(virtual, radix: 16)) is not resident, though it was faulted in")
        }
        let frame = entry & ((1 << 55) - 1)
        guard frame != 0 else {
            throw UIOError(.permissionDenied, subject: path,
                           reason: "the kernel gave page frame 0: it hides physical addresses from readers without CAP_SYS_ADMIN",
                           advice: "a device on UIO is given physical addresses, which only CAP_SYS_ADMIN may read; run the driver with it (or as root), or use VFIO, whose IOMMU addresses need no privilege")
        }
        return frame * UInt64(page) + UInt64(virtual % page)
    }
}
