// The packets pktgen sends and the forwarder checks: 60-byte UDP/IPv4 frames whose payload
// carries a sequence number, the sending run's tag and a check over every byte before it, so a
// receiver can tell a corrupted packet from a good one, a reordered one from a lost one, and a
// packet of an earlier run (held in QEMU's queue meanwhile) from one of this run.

/// Layout: Ethernet (14 bytes), IPv4 (20), UDP (8), then the sequence number (8 bytes, little
/// endian) at 42, the run's tag (4) at 50, the check (4) at 54, and 2 zero bytes.
enum TestPacket {
    static let length = 60
    static let sequenceOffset = 42
    static let runTagOffset = 50
    static let checkOffset = 54

    /// Destination 02:75:69:6f:00:02, source 02:75:69:6f:00:01 (locally administered), UDP from
    /// 10.0.0.1:42 to 10.0.0.2:1337, sequence 0.
    static func template() -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: length)
        frame.replaceSubrange(0..<12, with: [0x02, 0x75, 0x69, 0x6f, 0x00, 0x02, 0x02, 0x75, 0x69, 0x6f, 0x00, 0x01])
        frame.replaceSubrange(12..<14, with: [0x08, 0x00])
        let ipLength = length - 14
        let ip: [UInt8] = [0x45, 0, UInt8(ipLength >> 8), UInt8(ipLength & 0xff), 0, 0, 0, 0, 64, 17, 0, 0,
                           10, 0, 0, 1, 10, 0, 0, 2]
        frame.replaceSubrange(14..<34, with: ip)
        let ipChecksum = internetChecksum(ip)
        frame[24] = UInt8(ipChecksum >> 8)
        frame[25] = UInt8(ipChecksum & 0xff)
        let udpLength = ipLength - 20
        frame.replaceSubrange(34..<42, with: [0, 42, 0x05, 0x39, UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0])
        return frame
    }

    /// RFC 1071's checksum of `bytes`, an even count.
    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) { sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The check of the 54 bytes before it: an FNV-style fold of six 64-bit words, one 32-bit
    /// and one 16-bit word. Any one byte changed changes it.
    @inline(__always)
    static func check(of frame: UnsafeRawPointer) -> UInt32 {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var offset = 0
        while offset < 48 {
            hash = (hash ^ frame.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* prime
            offset &+= 8
        }
        hash = (hash ^ UInt64(frame.loadUnaligned(fromByteOffset: 48, as: UInt32.self))) &* prime
        hash = (hash ^ UInt64(frame.loadUnaligned(fromByteOffset: 52, as: UInt16.self))) &* prime
        return UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
    }

    /// Writes `sequence`, `runTag` and the check into a frame that holds ``template()``.
    @inline(__always)
    static func stamp(_ frame: UnsafeMutableRawPointer, sequence: UInt64, runTag: UInt32) {
        frame.storeBytes(of: sequence.littleEndian, toByteOffset: sequenceOffset, as: UInt64.self)
        frame.storeBytes(of: runTag.littleEndian, toByteOffset: runTagOffset, as: UInt32.self)
        frame.storeBytes(of: check(of: frame).littleEndian, toByteOffset: checkOffset, as: UInt32.self)
    }

    /// The frame's sequence number and run tag, or `nil` if it is not a whole, uncorrupted test
    /// packet.
    @inline(__always)
    static func verified(_ frame: UnsafeRawPointer, length: Int) -> (sequence: UInt64, runTag: UInt32)? {
        guard length == Self.length,
              UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: checkOffset, as: UInt32.self)) == check(of: frame)
        else { return nil }
        return (UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: sequenceOffset, as: UInt64.self)),
                UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: runTagOffset, as: UInt32.self)))
    }
}
