// The descriptor rings as the hot loop sees them: trivial values (pointers and integers) over
// common buffers and BAR0, so moving packets through them counts no references.
//
// Ordering: the device writes a descriptor's status last, so the driver reads the status, then
// an acquiring fence, then the rest; the driver writes descriptors and payloads, then a
// releasing fence, then the tail register. On x86 both fences only stop the compiler.

import QEMUDevices
import Synchronization
import UIO

/// A receive ring: the device fills buffers, the driver takes them and puts fresh ones in.
struct ReceiveRing {
    let descriptors: UnsafeMutableRawPointer
    /// The pool buffer behind each descriptor.
    let slots: UnsafeMutablePointer<UInt32>
    let mask: Int
    let tail: UnmanagedRegister<UInt32>
    /// The next descriptor the device will have filled.
    var next = 0

    @inline(__always)
    func descriptor(_ index: Int) -> UnsafeMutableRawPointer { descriptors + index &* E1000.descriptorSize }

    /// Whether the device has filled the next descriptor.
    @inline(__always)
    var hasPacket: Bool {
        UInt8.volatileLoad(from: descriptor(next) + E1000.ReceiveDescriptor.status) & E1000.ReceiveDescriptor.descriptorDone != 0
    }

    /// Gives descriptor `index` buffer `number` at `address`, for the device to fill.
    @inline(__always)
    func arm(_ index: Int, buffer number: UInt32, at address: UInt64) {
        let descriptor = descriptor(index)
        slots[index] = number
        UInt64.volatileStore(address, to: descriptor + E1000.ReceiveDescriptor.bufferAddress)
        // Status, errors and special together: the device sets DD again when it has filled it.
        UInt32.volatileStore(0, to: descriptor + E1000.ReceiveDescriptor.status)
    }

    /// Tells the device it owns every descriptor up to the one before `next`.
    @inline(__always)
    func handBack() {
        atomicMemoryFence(ordering: .releasing)
        tail.write(UInt32((next &- 1) & mask))
    }

    /// The descriptors holding a packet the driver has not taken, from `next` on.
    func filledCount() -> Int {
        var count = 0
        var index = next
        while count <= mask,
              UInt8.volatileLoad(from: descriptor(index) + E1000.ReceiveDescriptor.status) & E1000.ReceiveDescriptor.descriptorDone != 0 {
            count += 1
            index = (index &+ 1) & mask
        }
        return count
    }
}

/// A transmit ring: the driver hands buffers over, the device sends them and marks them done.
struct TransmitRing {
    let descriptors: UnsafeMutableRawPointer
    /// The pool buffer behind each descriptor in flight.
    let slots: UnsafeMutablePointer<UInt32>
    let mask: Int
    let tailRegister: UnmanagedRegister<UInt32>
    /// The next free descriptor.
    var tail = 0
    /// The oldest descriptor not yet known to be sent.
    var clean = 0

    @inline(__always)
    func descriptor(_ index: Int) -> UnsafeMutableRawPointer { descriptors + index &* E1000.descriptorSize }

    /// Whether one more descriptor is free (one always stays empty, so full differs from empty).
    @inline(__always)
    var hasRoom: Bool { (tail &+ 1) & mask != clean }

    /// Gives every sent buffer back to `pool`.
    @inline(__always)
    mutating func reclaim(into pool: inout PacketPoolState) {
        while clean != tail,
              UInt8.volatileLoad(from: descriptor(clean) + E1000.TransmitDescriptor.status) & E1000.TransmitDescriptor.descriptorDone != 0 {
            pool.give(slots[clean])
            clean = (clean &+ 1) & mask
        }
    }

    /// Queues buffer `number` at `address`, `length` bytes, as one whole packet. The caller has
    /// checked ``hasRoom``.
    @inline(__always)
    mutating func enqueue(buffer number: UInt32, at address: UInt64, length: Int) {
        let descriptor = descriptor(tail)
        slots[tail] = number
        UInt64.volatileStore(address, to: descriptor + E1000.TransmitDescriptor.bufferAddress)
        // Length, checksum offset and command in one store; status (with DD) cleared in another.
        let command = E1000.TransmitDescriptor.endOfPacket | E1000.TransmitDescriptor.insertCRC | E1000.TransmitDescriptor.reportStatus
        UInt32.volatileStore(UInt32(truncatingIfNeeded: length) | UInt32(command) << 24, to: descriptor + E1000.TransmitDescriptor.length)
        UInt32.volatileStore(0, to: descriptor + E1000.TransmitDescriptor.status)
        tail = (tail &+ 1) & mask
    }

    /// The descriptors handed over that the device has not marked sent.
    func unsentCount() -> Int {
        var count = 0
        var index = clean
        while index != tail {
            if UInt8.volatileLoad(from: descriptor(index) + E1000.TransmitDescriptor.status) & E1000.TransmitDescriptor.descriptorDone == 0 {
                count += 1
            }
            index = (index &+ 1) & mask
        }
        return count
    }

    /// Tells the device to send everything queued.
    @inline(__always)
    func handOver() {
        atomicMemoryFence(ordering: .releasing)
        tailRegister.write(UInt32(tail))
    }
}
