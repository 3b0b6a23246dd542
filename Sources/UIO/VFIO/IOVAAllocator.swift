/// Hands out I/O virtual addresses for DMA mappings from the ranges the IOMMU reports usable.
///
/// First fit from the lowest address, so buffers land low, inside the narrow address widths of
/// simple devices (a 28-bit one reaches 256 MiB). Page 0 and the first 64 KiB are never given: a
/// device told address 0 by mistake faults instead of reaching a buffer. Freed blocks merge with
/// their neighbours. Not thread-safe: its owner locks.
struct IOVAAllocator: Sendable {
    /// The lowest address handed out.
    static let lowest: UInt64 = 0x10000

    /// Free blocks, sorted and disjoint, inclusive ends.
    private(set) var free: [ClosedRange<UInt64>]

    /// The free space of `ranges` (inclusive ends), above ``lowest``.
    init(ranges: [ClosedRange<UInt64>]) {
        free = ranges.sorted { $0.lowerBound < $1.lowerBound }.compactMap { range in
            guard range.upperBound >= Self.lowest else { return nil }
            return max(range.lowerBound, Self.lowest)...range.upperBound
        }
    }

    /// The lowest `alignment`-aligned block of `length` bytes whose last byte is at most
    /// `limit`, taken out of the free space; `nil` when none fits. `length` > 0; `alignment` a
    /// power of two.
    mutating func allocate(length: UInt64, alignment: UInt64, limit: UInt64) -> UInt64? {
        precondition(length > 0 && alignment > 0 && alignment & (alignment - 1) == 0)
        for (index, block) in free.enumerated() {
            let (rounded, overflow) = block.lowerBound.addingReportingOverflow(alignment - 1)
            guard !overflow else { continue }
            let start = rounded & ~(alignment - 1)
            let (end, endOverflow) = start.addingReportingOverflow(length - 1)
            guard !endOverflow, end <= block.upperBound else { continue }
            guard end <= limit else { return nil }  // sorted: every later block is higher still
            var pieces: [ClosedRange<UInt64>] = []
            if start > block.lowerBound { pieces.append(block.lowerBound...(start - 1)) }
            if end < block.upperBound { pieces.append((end + 1)...block.upperBound) }
            free.replaceSubrange(index...index, with: pieces)
            return start
        }
        return nil
    }

    /// Gives `length` bytes at `start` back, merging them with free neighbours.
    mutating func release(start: UInt64, length: UInt64) {
        precondition(length > 0)
        var block = start...(start + length - 1)
        let index = free.firstIndex { $0.lowerBound > block.upperBound } ?? free.endIndex
        var low = index
        if low > 0, free[low - 1].upperBound &+ 1 == block.lowerBound {
            low -= 1
            block = free[low].lowerBound...block.upperBound
        }
        var high = index
        if high < free.count, block.upperBound &+ 1 == free[high].lowerBound {
            block = block.lowerBound...free[high].upperBound
            high += 1
        }
        free.replaceSubrange(low..<high, with: [block])
    }
}
