// Reads the allocation counter's per-thread counts when the process runs with it preloaded
// (LD_PRELOAD=allocation_counter.so, built by the test and benchmark scripts from
// Benchmarks/AllocationCounter): how the hot loop's threads are shown to allocate nothing.

#if canImport(Glibc)
import Glibc
#endif

/// The allocation counter's snapshot, if it is loaded.
final class AllocationProbe: @unchecked Sendable {
    // @unchecked: `buffer` is used by one caller at a time (`AllocationWindow` holds a lock).
    private typealias Snapshot = @convention(c) (UnsafeMutableRawPointer?, Int) -> Int
    private let snapshot: Snapshot
    /// The counter's record: `int tid; char name[16];` then four `uint64_t`s, 56 bytes with
    /// padding. Allocated once, so a snapshot taken on a counted thread does not count itself.
    private static let stride = 56, capacity = 4096
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: stride * capacity, alignment: 8)

    /// `nil` without the counter in the process.
    init?() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "allocation_counts_snapshot") else {  // RTLD_DEFAULT
            buffer.deallocate()
            return nil
        }
        snapshot = unsafeBitCast(symbol, to: Snapshot.self)
    }

    deinit { buffer.deallocate() }

    /// The allocations (malloc, calloc, realloc and the aligned ones) so far of each thread, by
    /// its name. The counts are copied before anything here allocates.
    func allocationsByThread() -> [String: UInt64] {
        let count = snapshot(buffer, Self.capacity)
        var result: [String: UInt64] = [:]
        for index in 0..<count {
            let record = buffer + index * Self.stride
            let name = String(decoding: UnsafeRawBufferPointer(start: record + 4, count: 16).prefix { $0 != 0 }, as: UTF8.self)
            let total = (0..<4).reduce(UInt64(0)) { $0 + record.load(fromByteOffset: 24 + 8 * $1, as: UInt64.self) }
            result[name, default: 0] += total
        }
        return result
    }
}
