// pktgen: 60-byte test packets out of one port as fast as its transmit ring takes them, each
// with the next sequence number and its check. Like the forwarder, the loop is a static function
// of trivial values.

#if canImport(Glibc)
import Glibc
#endif
import UIODriver

enum PacketGenerator {
    /// Writes the template into every buffer of `port`'s pool that is free (the receive ring's
    /// are the device's), then sends until the port is told to stop or `deadline` passes.
    /// With `rate`, at most that many packets a second, sleeping between batches.
    static func run(_ port: E1000Port, batch: Int, rate: Int? = nil, until deadline: ContinuousClock.Instant?) {
        let pool = port.pool.state
        let template = TestPacket.template()
        template.withUnsafeBytes { bytes in
            for position in 0..<pool.pointee.freeCount {
                pool.pointee.virtualAddress(pool.pointee.free[position]).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
        // Tells this run's packets from an earlier run's that QEMU may still hold.
        let runTag = UInt32(bitPattern: getpid()) &* 0x9E37_79B9 ^ UInt32(truncatingIfNeeded: time(nil))
        port.polling {
            var sequence: UInt64 = 0
            var rounds = 0
            let started = ContinuousClock.now
            while !port.shouldStopPolling {
                sendBatch(port.rings, pool, batch: batch, runTag: runTag, sequence: &sequence, counters: port.counters.counters)
                rounds &+= 1
                if let rate {
                    // Where the rate says the sequence should be now: ahead, so wait.
                    let due = started + .nanoseconds(Int64(Double(sequence) / Double(rate) * 1e9))
                    let now = ContinuousClock.now
                    if now < due {
                        let ahead = due - now
                        let microseconds = ahead.components.seconds * 1_000_000 + ahead.components.attoseconds / 1_000_000_000_000
                        usleep(UInt32(min(max(microseconds, 1), 100_000)))
                    }
                    if let deadline, now >= deadline { break }
                } else if rounds & 4095 == 0, let deadline, ContinuousClock.now >= deadline {
                    break
                }
            }
        }
    }

    /// Reclaims what was sent, then queues up to `batch` packets and hands them over.
    static func sendBatch(_ rings: UnsafeMutablePointer<PortRings>, _ pool: UnsafeMutablePointer<PacketPoolState>,
                          batch: Int, runTag: UInt32, sequence: inout UInt64, counters: Counters) {
        rings.pointee.transmit.reclaim(into: &pool.pointee)
        var queued = 0
        while queued < batch, rings.pointee.transmit.hasRoom, let buffer = pool.pointee.take() {
            TestPacket.stamp(pool.pointee.virtualAddress(buffer), sequence: sequence, runTag: runTag)
            sequence &+= 1
            rings.pointee.transmit.enqueue(buffer: buffer, at: pool.pointee.deviceAddress(buffer), length: TestPacket.length)
            queued &+= 1
        }
        guard queued > 0 else { return }
        rings.pointee.transmit.handOver()
        counters.add(.transmittedPackets, queued)
        counters.add(.transmittedBytes, queued * TestPacket.length)
    }
}
