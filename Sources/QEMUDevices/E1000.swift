/// QEMU's `e1000` NIC (Intel 82540EM, vendor 0x8086, device 0x100e, hw/net/e1000.c): the BAR0
/// registers, interrupt causes and legacy descriptor layouts a polling or interrupt-driven driver
/// needs. Offsets are in bytes; every register is 32 bits wide.
public enum E1000 {
    /// PCI vendor ID.
    public static let vendor: UInt16 = 0x8086
    /// PCI device ID.
    public static let device: UInt16 = 0x100e

    // MARK: General

    /// Device control: ``Control``.
    public static let control = 0x0000
    /// Device status: ``Status``.
    public static let status = 0x0008
    /// EEPROM read: write the word's address with ``EEPROMRead/start``, wait for
    /// ``EEPROMRead/done``, the word is in bits 16–31.
    public static let eepromRead = 0x0014

    public enum Control {
        /// Set link up.
        public static let setLinkUp: UInt32 = 1 << 6
        /// Device reset: self-clearing.
        public static let reset: UInt32 = 1 << 26
    }

    public enum Status {
        /// Link up.
        public static let linkUp: UInt32 = 1 << 1
    }

    public enum EEPROMRead {
        public static let start: UInt32 = 1 << 0
        public static let done: UInt32 = 1 << 4
        /// The word's address goes in bits 8–15.
        public static let addressShift: UInt32 = 8
        public static let dataShift: UInt32 = 16
    }

    // MARK: Interrupts

    /// Interrupt cause read: reading returns the raised causes and clears them.
    public static let interruptCauseRead = 0x00C0
    /// Interrupt throttling: the least interval between interrupts, in 256 ns units.
    public static let interruptThrottling = 0x00C4
    /// Interrupt cause set: raises the written causes.
    public static let interruptCauseSet = 0x00C8
    /// Interrupt mask set: enables the written causes.
    public static let interruptMaskSet = 0x00D0
    /// Interrupt mask clear: disables the written causes.
    public static let interruptMaskClear = 0x00D8

    /// Interrupt causes (ICR, ICS, IMS, IMC bits).
    public enum Cause {
        /// A transmit descriptor was written back.
        public static let transmitDescriptorWritten: UInt32 = 1 << 0
        /// The transmit queue is empty.
        public static let transmitQueueEmpty: UInt32 = 1 << 1
        /// Link status changed.
        public static let linkStatusChange: UInt32 = 1 << 2
        /// The free receive descriptors fell below the minimum threshold.
        public static let receiveDescriptorMinimum: UInt32 = 1 << 4
        /// A packet was dropped: no receive descriptor was free.
        public static let receiveOverrun: UInt32 = 1 << 6
        /// A receive descriptor was written back (the receive timer expired).
        public static let receiveTimer: UInt32 = 1 << 7
        /// The causes that mean receive work.
        public static let receive: UInt32 = receiveDescriptorMinimum | receiveOverrun | receiveTimer
        /// Every cause.
        public static let all: UInt32 = 0xFFFF_FFFF
    }

    // MARK: Receive

    /// Receive control: ``ReceiveControl``.
    public static let receiveControl = 0x0100
    /// Receive descriptor ring: base address, low and high 32 bits.
    public static let receiveRingBaseLow = 0x2800
    public static let receiveRingBaseHigh = 0x2804
    /// Receive descriptor ring length in bytes (a multiple of 128).
    public static let receiveRingLength = 0x2808
    /// Receive head: the next descriptor the device fills.
    public static let receiveHead = 0x2810
    /// Receive tail: one past the last descriptor the device owns.
    public static let receiveTail = 0x2818
    /// Receive delay timer (RDTR), in 1.024 µs units.
    public static let receiveDelayTimer = 0x2820

    public enum ReceiveControl {
        public static let enable: UInt32 = 1 << 1
        /// Unicast promiscuous: every destination address.
        public static let unicastPromiscuous: UInt32 = 1 << 3
        /// Multicast promiscuous.
        public static let multicastPromiscuous: UInt32 = 1 << 4
        /// Broadcast accept.
        public static let broadcastAccept: UInt32 = 1 << 15
        /// Buffer size 2048 bytes: the size bits 16–17 zero.
        public static let bufferSize2048: UInt32 = 0
        /// Strip the Ethernet CRC.
        public static let stripCRC: UInt32 = 1 << 26
    }

    // MARK: Transmit

    /// Transmit control: ``TransmitControl``.
    public static let transmitControl = 0x0400
    /// Transmit inter-packet gap.
    public static let transmitInterPacketGap = 0x0410
    public static let transmitRingBaseLow = 0x3800
    public static let transmitRingBaseHigh = 0x3804
    public static let transmitRingLength = 0x3808
    /// Transmit head: the next descriptor the device sends.
    public static let transmitHead = 0x3810
    /// Transmit tail: one past the last descriptor the driver handed over.
    public static let transmitTail = 0x3818

    public enum TransmitControl {
        public static let enable: UInt32 = 1 << 1
        /// Pad short packets.
        public static let padShortPackets: UInt32 = 1 << 3
        /// Collision threshold, bits 4–11: 15, as Intel recommends.
        public static let collisionThreshold: UInt32 = 0x0F << 4
        /// Collision distance, bits 12–21: 64 bytes for full duplex.
        public static let collisionDistance: UInt32 = 0x40 << 12
    }

    /// Intel's recommended inter-packet gap for copper: IPGT 10, IPGR1 8, IPGR2 6.
    public static let recommendedInterPacketGap: UInt32 = 10 | (8 << 10) | (6 << 20)

    // MARK: Address filters

    /// Multicast table array: 128 registers.
    public static let multicastTable = 0x5200
    public static let multicastTableEntries = 128
    /// Receive address 0, low (bytes 0–3 of the MAC) and high (bytes 4–5, ``addressValid``).
    public static let receiveAddressLow = 0x5400
    public static let receiveAddressHigh = 0x5404
    public static let addressValid: UInt32 = 1 << 31

    // MARK: Statistics (each cleared by reading it; the 64-bit octet counts by reading the high half)

    /// Missed packets: dropped for want of a receive descriptor.
    public static let missedPackets = 0x4010
    /// Good packets received.
    public static let goodPacketsReceived = 0x4074
    /// Good packets transmitted.
    public static let goodPacketsTransmitted = 0x4080
    /// Good octets received, low and high halves.
    public static let goodOctetsReceivedLow = 0x4088
    public static let goodOctetsReceivedHigh = 0x408C
    /// Good octets transmitted, low and high halves.
    public static let goodOctetsTransmittedLow = 0x4090
    public static let goodOctetsTransmittedHigh = 0x4094

    // MARK: Descriptors (legacy, 16 bytes each)
    // Inlinable, so a driver's hot loop in another module reads them as constants, not through
    // a global's accessor.

    /// The bytes of one descriptor.
    @inlinable public static var descriptorSize: Int { 16 }

    /// A receive descriptor's fields: buffer address (8 bytes), length (2), checksum (2),
    /// status (1), errors (1), special (2).
    public enum ReceiveDescriptor {
        @inlinable public static var bufferAddress: Int { 0 }
        @inlinable public static var length: Int { 8 }
        @inlinable public static var status: Int { 12 }
        @inlinable public static var errors: Int { 13 }
        /// Status: the descriptor is done (written back).
        @inlinable public static var descriptorDone: UInt8 { 1 << 0 }
        /// Status: the last descriptor of a packet.
        @inlinable public static var endOfPacket: UInt8 { 1 << 1 }
    }

    /// A transmit descriptor's fields: buffer address (8 bytes), length (2), checksum offset (1),
    /// command (1), status (1), checksum start (1), special (2).
    public enum TransmitDescriptor {
        @inlinable public static var bufferAddress: Int { 0 }
        @inlinable public static var length: Int { 8 }
        @inlinable public static var command: Int { 11 }
        @inlinable public static var status: Int { 12 }
        /// Command: end of packet.
        @inlinable public static var endOfPacket: UInt8 { 1 << 0 }
        /// Command: insert the Ethernet CRC.
        @inlinable public static var insertCRC: UInt8 { 1 << 1 }
        /// Command: report status (write DD back when sent).
        @inlinable public static var reportStatus: UInt8 { 1 << 3 }
        /// Status: the descriptor is done (sent).
        @inlinable public static var descriptorDone: UInt8 { 1 << 0 }
    }

    /// The receive buffer size ``ReceiveControl/bufferSize2048`` selects.
    public static let receiveBufferSize = 2048
}
