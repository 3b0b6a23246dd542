import QEMUDevices
import Testing
import UIO
import UIOTesting
@testable import e1000_nic

/// The e1000 example's hot loop over rings in ordinary memory: the test plays the device, marking
/// receive descriptors filled and transmit descriptors sent, and reads what the driver wrote.
@Suite("e1000-nic: the forwarding loop")
struct NICHotLoopTests {
    /// Two ports' rings, a pool and BAR0 stand-ins, all in memory the test owns.
    final class Bench {
        static let entries = 16
        static let poolSize = 64
        let device: SimulatedDevice
        let bar: MappedRegion
        let descriptors: UnsafeMutableRawPointer
        let slots: UnsafeMutablePointer<UInt32>
        let chunk: UnsafeMutableRawPointer
        let virtualBases = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: 1)
        let deviceBases = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        let free = UnsafeMutablePointer<UInt32>.allocate(capacity: poolSize)
        let input = UnsafeMutablePointer<PortRings>.allocate(capacity: 1)
        let output = UnsafeMutablePointer<PortRings>.allocate(capacity: 1)
        let pool = UnsafeMutablePointer<PacketPoolState>.allocate(capacity: 1)
        let inputStorage = CounterStorage()
        let outputStorage = CounterStorage()
        static let chunkDeviceAddress: UInt64 = 0x4000_0000

        init() throws {
            device = try SimulatedDevice(mapSizes: [0x20000])
            bar = try device.mapRegion(0)
            descriptors = .allocate(byteCount: 4 * Self.entries * E1000.descriptorSize, alignment: 128)
            descriptors.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * Self.entries * E1000.descriptorSize)
            slots = .allocate(capacity: 4 * Self.entries)
            slots.initialize(repeating: .max, count: 4 * Self.entries)
            chunk = .allocate(byteCount: Self.poolSize * PacketPoolState.bufferSize, alignment: 4096)
            virtualBases.initialize(to: chunk)
            deviceBases.initialize(to: Self.chunkDeviceAddress)
            for index in 0..<Self.poolSize { (free + index).initialize(to: UInt32(Self.poolSize - 1 - index)) }
            pool.initialize(to: PacketPoolState(virtualBases: virtualBases, deviceBases: deviceBases, free: free,
                                                capacity: Self.poolSize, freeCount: Self.poolSize))
            func rings(_ port: Int) throws -> PortRings {
                let base = descriptors + 2 * port * Self.entries * E1000.descriptorSize
                return PortRings(
                    receive: ReceiveRing(descriptors: base, slots: slots + 2 * port * Self.entries, mask: Self.entries - 1,
                                         tail: try bar.register(UInt32.self, at: 0x100 * port + E1000.receiveTail % 0x100).unmanaged),
                    transmit: TransmitRing(descriptors: base + Self.entries * E1000.descriptorSize,
                                           slots: slots + (2 * port + 1) * Self.entries, mask: Self.entries - 1,
                                           tailRegister: try bar.register(UInt32.self, at: 0x100 * port + 0x80).unmanaged))
            }
            input.initialize(to: try rings(0))
            output.initialize(to: try rings(1))
            // D0 entry's fill: every receive descriptor gets a buffer.
            for index in 0..<Self.entries {
                let buffer = pool.pointee.take()!
                input.pointee.receive.arm(index, buffer: buffer, at: pool.pointee.deviceAddress(buffer))
            }
        }

        deinit {
            descriptors.deallocate(); slots.deallocate(); chunk.deallocate()
            virtualBases.deallocate(); deviceBases.deallocate(); free.deallocate()
            input.deallocate(); output.deallocate(); pool.deallocate()
        }

        var inputTail: UInt32 { try! bar.read(UInt32.self, at: E1000.receiveTail % 0x100) }
        var outputTail: UInt32 { try! bar.read(UInt32.self, at: 0x100 + 0x80) }

        /// Plays the device: a test packet with `sequence` lands in the next receive descriptor
        /// the device owns (`index`), with `corrupt` flipping one payload byte.
        func receive(at index: Int, sequence: UInt64, runTag: UInt32 = 7, corrupt: Bool = false) {
            let descriptor = descriptors + index * E1000.descriptorSize
            let address = descriptor.load(as: UInt64.self)
            let frame = chunk + Int(address - Self.chunkDeviceAddress)
            TestPacket.template().withUnsafeBytes { frame.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            TestPacket.stamp(frame, sequence: sequence, runTag: runTag)
            if corrupt { frame.storeBytes(of: frame.load(fromByteOffset: 30, as: UInt8.self) ^ 0x10, toByteOffset: 30, as: UInt8.self) }
            descriptor.storeBytes(of: UInt16(TestPacket.length), toByteOffset: E1000.ReceiveDescriptor.length, as: UInt16.self)
            descriptor.storeBytes(of: E1000.ReceiveDescriptor.descriptorDone | E1000.ReceiveDescriptor.endOfPacket,
                                  toByteOffset: E1000.ReceiveDescriptor.status, as: UInt8.self)
        }

        /// Plays the device: transmit descriptor `index` was sent.
        func sent(_ index: Int) {
            let descriptor = output.pointee.transmit.descriptor(index)
            descriptor.storeBytes(of: E1000.TransmitDescriptor.descriptorDone, toByteOffset: E1000.TransmitDescriptor.status, as: UInt8.self)
        }

        func forward(batch: Int = 32) -> Int {
            Forwarder.forwardBatch(input, output, pool, batch: batch, checksPayload: true,
                                   inputCounters: inputStorage.counters, outputCounters: outputStorage.counters)
        }
    }

    @Test("received packets go out unchanged in the same buffers; the receive ring gets fresh ones")
    func forwardsAndRefills() throws {
        let bench = try Bench()
        let armed = (0..<3).map { bench.input.pointee.receive.slots[$0] }
        for index in 0..<3 { bench.receive(at: index, sequence: UInt64(100 + index)) }

        #expect(bench.forward() == 3)

        for index in 0..<3 {
            let transmit = bench.output.pointee.transmit.descriptor(index)
            // The buffer the device filled is the one sent, untouched.
            #expect(bench.output.pointee.transmit.slots[index] == armed[index])
            #expect(transmit.load(fromByteOffset: E1000.TransmitDescriptor.bufferAddress, as: UInt64.self)
                    == bench.pool.pointee.deviceAddress(armed[index]))
            #expect(transmit.load(fromByteOffset: E1000.TransmitDescriptor.length, as: UInt16.self) == UInt16(TestPacket.length))
            #expect(transmit.load(fromByteOffset: E1000.TransmitDescriptor.command, as: UInt8.self)
                    == E1000.TransmitDescriptor.endOfPacket | E1000.TransmitDescriptor.insertCRC | E1000.TransmitDescriptor.reportStatus)
            #expect(transmit.load(fromByteOffset: E1000.TransmitDescriptor.status, as: UInt8.self) == 0)
            #expect(TestPacket.verified(bench.pool.pointee.virtualAddress(armed[index]), length: TestPacket.length)?.sequence == UInt64(100 + index))
            // The receive descriptor holds a fresh buffer, its status cleared for the device.
            let receive = bench.input.pointee.receive.descriptor(index)
            let fresh = bench.input.pointee.receive.slots[index]
            #expect(!armed.contains(fresh))
            #expect(receive.load(as: UInt64.self) == bench.pool.pointee.deviceAddress(fresh))
            #expect(receive.load(fromByteOffset: E1000.ReceiveDescriptor.status, as: UInt8.self) == 0)
        }
        #expect(bench.inputTail == 2)  // the device owns up to the one before the next to look at
        #expect(bench.outputTail == 3)
        let input = bench.inputStorage.counters, output = bench.outputStorage.counters
        #expect(input.value(.receivedPackets) == 3 && input.value(.receivedBytes) == UInt64(3 * TestPacket.length))
        #expect(output.value(.transmittedPackets) == 3 && input.value(.corrupted) == 0 && input.value(.outOfOrder) == 0)
        #expect(bench.input.pointee.firstSequence == 100 && bench.input.pointee.lastSequence == 102)
        // Nothing more to do: nothing moves, no register written again.
        #expect(bench.forward() == 0)
    }

    @Test("a batch stops at its size; the rest waits in the ring for the next")
    func batchBound() throws {
        let bench = try Bench()
        for index in 0..<10 { bench.receive(at: index, sequence: UInt64(index)) }
        #expect(bench.forward(batch: 4) == 4)
        #expect(bench.input.pointee.receive.filledCount() == 6)
        #expect(bench.forward(batch: 32) == 6)
        #expect(bench.inputStorage.counters.value(.receivedPackets) == 10)
    }

    @Test("a corrupted payload and a sequence number going back are counted, and still forwarded")
    func checks() throws {
        let bench = try Bench()
        bench.receive(at: 0, sequence: 7)
        bench.receive(at: 1, sequence: 8, corrupt: true)
        bench.receive(at: 2, sequence: 5)
        #expect(bench.forward() == 3)
        #expect(bench.inputStorage.counters.value(.corrupted) == 1)
        #expect(bench.inputStorage.counters.value(.outOfOrder) == 1)
        #expect(bench.input.pointee.firstSequence == 7 && bench.input.pointee.lastSequence == 7)
        #expect(bench.input.pointee.runPackets == 2)
    }

    @Test("an earlier run's packets, then this run's from 0: a new count starts, nothing out of order")
    func runs() throws {
        let bench = try Bench()
        bench.receive(at: 0, sequence: 90_000, runTag: 1)
        bench.receive(at: 1, sequence: 90_001, runTag: 1)
        bench.receive(at: 2, sequence: 0, runTag: 2)
        bench.receive(at: 3, sequence: 1, runTag: 2)
        bench.receive(at: 4, sequence: 3, runTag: 2)
        #expect(bench.forward() == 5)
        #expect(bench.inputStorage.counters.value(.outOfOrder) == 0)
        #expect(bench.inputStorage.counters.value(.runChanges) == 1)
        #expect(bench.input.pointee.runTag == 2 && bench.input.pointee.firstSequence == 0 && bench.input.pointee.lastSequence == 3)
        #expect(bench.input.pointee.runPackets == 3)
    }

    @Test("every single-byte change of a test packet fails its check; a short or long frame is refused")
    func packetCheck() {
        var frame = TestPacket.template()
        #expect(frame.count == 60)
        #expect(TestPacket.internetChecksum(Array(frame[14..<34])) == 0)  // the IPv4 header checksums to zero
        frame.withUnsafeMutableBytes { bytes in
            TestPacket.stamp(bytes.baseAddress!, sequence: 0x0123_4567_89ab_cdef, runTag: 0xfeed_f00d)
            let verified = TestPacket.verified(bytes.baseAddress!, length: 60)
            #expect(verified?.sequence == 0x0123_4567_89ab_cdef && verified?.runTag == 0xfeed_f00d)
            #expect(TestPacket.verified(bytes.baseAddress!, length: 59) == nil)
            #expect(TestPacket.verified(bytes.baseAddress!, length: 64) == nil)
            for offset in 0..<(TestPacket.checkOffset + 4) {
                for bit in 0..<8 {
                    bytes[offset] ^= 1 << bit
                    #expect(TestPacket.verified(bytes.baseAddress!, length: 60) == nil, "byte \(offset) bit \(bit)")
                    bytes[offset] ^= 1 << bit
                }
            }
        }
    }

    @Test("sent buffers come back to the pool; with the pool empty or the output full, packets wait in the ring")
    func backPressure() throws {
        let bench = try Bench()
        let entries = Bench.entries
        // The output ring takes entries - 1 (one stays empty).
        for round in 0..<2 {
            for index in 0..<(entries / 2) { bench.receive(at: (round * entries / 2 + index) % entries, sequence: UInt64(round * 100 + index)) }
            _ = bench.forward()
        }
        #expect(bench.outputStorage.counters.value(.transmittedPackets) == UInt64(entries - 1))
        #expect(!bench.output.pointee.transmit.hasRoom)
        #expect(bench.input.pointee.receive.hasPacket)  // the last one waits: the output is full
        #expect(bench.forward() == 0)
        #expect(bench.output.pointee.transmit.unsentCount() == entries - 1)

        // The device sends the first five: their buffers return, and the waiting packet goes.
        let free = bench.pool.pointee.freeCount
        for index in 0..<5 { bench.sent(index) }
        #expect(bench.forward() == 1)
        #expect(bench.pool.pointee.freeCount == free + 5 - 1)
        #expect(bench.output.pointee.transmit.unsentCount() == entries - 1 - 5 + 1)

        // An empty pool: a filled descriptor stays the device's until a buffer can replace it.
        for index in 5..<(entries - 1) { bench.sent(index) }
        bench.output.pointee.transmit.reclaim(into: &bench.pool.pointee)
        let saved = bench.pool.pointee.freeCount
        bench.pool.pointee.freeCount = 0
        let next = bench.input.pointee.receive.next
        bench.receive(at: next, sequence: 1000)
        #expect(bench.forward() == 0)
        #expect(bench.input.pointee.receive.next == next && bench.input.pointee.receive.hasPacket)
        bench.pool.pointee.freeCount = saved
        #expect(bench.forward() == 1)
    }
}
