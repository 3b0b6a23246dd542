// The packet buffers: a fixed pool on common buffers, made once at device add and never grown.
// The hot loop reaches it only through `PacketPoolState`, a trivial value (pointers and
// integers), so taking and giving back a buffer counts no references and allocates nothing.

import UIODriver

/// The pool's state as the hot loop sees it: where each chunk of buffers lives, for the driver
/// and for the device, and a stack of free buffer numbers.
struct PacketPoolState {
    /// 2 KiB per buffer, 1024 buffers per chunk: a chunk is one 2 MiB huge page.
    static let bufferSize = 2048
    static let buffersPerChunkShift: UInt32 = 10
    static let buffersPerChunk = 1 << Int(buffersPerChunkShift)

    let virtualBases: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let deviceBases: UnsafeMutablePointer<UInt64>
    let free: UnsafeMutablePointer<UInt32>
    let capacity: Int
    var freeCount: Int

    /// Where buffer `number` is, in this process.
    @inline(__always)
    func virtualAddress(_ number: UInt32) -> UnsafeMutableRawPointer {
        virtualBases[Int(number >> Self.buffersPerChunkShift)] + Int(number & UInt32(Self.buffersPerChunk - 1)) &* Self.bufferSize
    }

    /// Where buffer `number` is, for the device.
    @inline(__always)
    func deviceAddress(_ number: UInt32) -> UInt64 {
        deviceBases[Int(number >> Self.buffersPerChunkShift)] &+ UInt64(number & UInt32(Self.buffersPerChunk - 1)) &* UInt64(Self.bufferSize)
    }

    /// A free buffer's number, or `nil` when every buffer is in a ring.
    @inline(__always)
    mutating func take() -> UInt32? {
        guard freeCount > 0 else { return nil }
        freeCount &-= 1
        return free[freeCount]
    }

    /// Gives buffer `number` back.
    @inline(__always)
    mutating func give(_ number: UInt32) {
        free[freeCount] = number
        freeCount &+= 1
    }
}

/// The pool: owns the common buffers and the state's storage, and frees the storage when the
/// last user lets go. The common buffers outlive the device that made them (see `DMAEnabler`).
final class PacketPool: @unchecked Sendable {
    // @unchecked: `state` is used by one thread at a time: the device's start fills the rings,
    // then only the hot loop (the DPC, or the polling thread) takes and gives.
    let state: UnsafeMutablePointer<PacketPoolState>
    private let chunks: [CommonBuffer]

    /// `chunks` × 1024 buffers of 2 KiB from `enabler`, each chunk a common buffer of its own
    /// (a huge page on UIO: the device needs each chunk contiguous, not the pool).
    init(enabler: DMAEnabler, chunks count: Int) throws {
        precondition(count > 0)
        chunks = try (0..<count).map { _ in
            try enabler.createCommonBuffer(length: PacketPoolState.buffersPerChunk * PacketPoolState.bufferSize,
                                           alignment: PacketPoolState.bufferSize)
        }
        let capacity = count * PacketPoolState.buffersPerChunk
        let virtualBases = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: count)
        let deviceBases = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
        for (index, chunk) in chunks.enumerated() {
            (virtualBases + index).initialize(to: chunk.alignedVirtualAddress)
            (deviceBases + index).initialize(to: chunk.alignedLogicalAddress)
        }
        let free = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        // Taken from the top: the lowest numbers first.
        for index in 0..<capacity { (free + index).initialize(to: UInt32(capacity - 1 - index)) }
        state = .allocate(capacity: 1)
        state.initialize(to: PacketPoolState(virtualBases: virtualBases, deviceBases: deviceBases, free: free,
                                             capacity: capacity, freeCount: capacity))
    }

    deinit {
        state.pointee.virtualBases.deallocate()
        state.pointee.deviceBases.deallocate()
        state.pointee.free.deallocate()
        state.deallocate()
    }
}
