// What the driver counts and what the device counts, kept apart so they can be compared.

import QEMUDevices
import Synchronization
import UIO

/// One thing the driver counts.
enum Counter: Int, CaseIterable {
    case receivedPackets, receivedBytes, transmittedPackets, transmittedBytes
    /// Received test packets whose check failed.
    case corrupted
    /// Received test packets whose sequence number was not above the highest of their run.
    case outOfOrder
    /// Received test packets from a sending run other than the one before them.
    case runChanges
    /// NAPI: DPC runs that drained the ring and unmasked the interrupt, and those that used
    /// their whole budget and queued themselves again.
    case drainedPolls, budgetPolls
    /// Batches handed to the device (one tail-register write each): packets per hand-over is
    /// how well the loop batches, and each hand-over is an exit into the emulator.
    case handOvers
}

/// The driver's counters, as the hot loop sees them: a trivial value (a pointer), so adding to
/// one counts no references. Added to once per batch, read by the statistics each second.
struct Counters: @unchecked Sendable {
    // @unchecked: the atomics are the only thing shared; `CounterStorage` keeps them alive.
    let base: UnsafeMutablePointer<Atomic<UInt64>>

    @inline(__always)
    func add(_ counter: Counter, _ amount: Int) {
        base[counter.rawValue].wrappingAdd(UInt64(truncatingIfNeeded: amount), ordering: .relaxed)
    }

    func value(_ counter: Counter) -> UInt64 { base[counter.rawValue].load(ordering: .relaxed) }
}

/// Owns a port's counters.
final class CounterStorage: Sendable {
    let counters: Counters

    init() {
        let base = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: Counter.allCases.count)
        for index in Counter.allCases.indices { (base + index).initialize(to: Atomic(0)) }
        counters = Counters(base: base)
    }

    deinit {
        counters.base.deinitialize(count: Counter.allCases.count)
        counters.base.deallocate()
    }
}

/// The device's own statistics registers, summed (each read clears them).
struct DeviceCounters: Sendable {
    var receivedPackets: UInt64 = 0
    var receivedBytes: UInt64 = 0
    var transmittedPackets: UInt64 = 0
    var transmittedBytes: UInt64 = 0
    /// Packets the device dropped for want of a free receive descriptor.
    var missedPackets: UInt64 = 0

    /// Reads and clears the registers, adding them in.
    mutating func accumulate(from registers: MappedRegion) throws(UIOError) {
        receivedPackets += UInt64(try registers.read(UInt32.self, at: E1000.goodPacketsReceived))
        transmittedPackets += UInt64(try registers.read(UInt32.self, at: E1000.goodPacketsTransmitted))
        missedPackets += UInt64(try registers.read(UInt32.self, at: E1000.missedPackets))
        // The low half first: reading the high half clears both.
        let receivedLow = UInt64(try registers.read(UInt32.self, at: E1000.goodOctetsReceivedLow))
        receivedBytes += receivedLow | UInt64(try registers.read(UInt32.self, at: E1000.goodOctetsReceivedHigh)) << 32
        let transmittedLow = UInt64(try registers.read(UInt32.self, at: E1000.goodOctetsTransmittedLow))
        transmittedBytes += transmittedLow | UInt64(try registers.read(UInt32.self, at: E1000.goodOctetsTransmittedHigh)) << 32
    }
}
