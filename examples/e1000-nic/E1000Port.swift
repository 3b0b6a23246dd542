// One e1000 port: the device context (pcidrv's FDO_DATA) and the driver's callbacks, in the
// order the framework calls them: device add → prepare hardware → D0 entry → (ISR → DPC) →
// D0 exit → release hardware.

import Dispatch
import Logging
import QEMUDevices
import Synchronization
import UIO
import UIODriver

/// The rings of one port and, for a port that receives test packets, what it saw of them.
struct PortRings {
    var receive: ReceiveRing
    var transmit: TransmitRing
    /// The good test packets received from the latest sending run: its tag, its first and
    /// highest sequence numbers, how many. A packet of another run starts a new count.
    var runTag: UInt32 = 0
    var firstSequence: UInt64 = 0
    var lastSequence: UInt64 = 0
    var runPackets: UInt64 = 0
    var sequencesSeen = false

    /// Counts a good test packet; returns whether it came out of order within its run.
    @inline(__always)
    mutating func count(sequence: UInt64, runTag tag: UInt32) -> (outOfOrder: Bool, newRun: Bool) {
        guard sequencesSeen, tag == runTag else {
            let newRun = sequencesSeen
            runTag = tag
            firstSequence = sequence
            lastSequence = sequence
            runPackets = 1
            sequencesSeen = true
            return (false, newRun)
        }
        runPackets &+= 1
        guard sequence > lastSequence else { return (true, false) }
        lastSequence = sequence
        return (false, false)
    }
}

/// A port's DMA: its enabler and the common buffers made from it.
struct PortDMA: Sendable {
    let enabler: DMAEnabler
    let ringMemory: CommonBuffer
    let pool: PacketPool
}

/// The device context: what the driver keeps about one port.
final class E1000Port: @unchecked Sendable {
    // @unchecked: `rings` is filled by prepare hardware and D0 entry, before the hot loop starts,
    // and from then on used by the hot loop alone (the DPC, or the polling thread); the rest is
    // immutable, atomic or under a lock.
    static let ringEntries = 512

    let slot: String
    let log: @Sendable (String) -> Void
    let counters = CounterStorage()
    let rings: UnsafeMutablePointer<PortRings>
    private let receiveSlots: UnsafeMutablePointer<UInt32>
    private let transmitSlots: UnsafeMutablePointer<UInt32>
    /// The DMA enabler, the rings' descriptors and the packet pool: made at device add, by
    /// `createDMA(for:)`, before the device starts, and never changed after.
    private(set) var dma: PortDMA!
    /// BAR0. Kept mapped until the port itself goes, past release hardware: a forwarder in
    /// another device's DPC may still write this port's tail register while it stops, and then
    /// writes to a device that is gone, never to unmapped memory.
    let registers = Mutex<MappedRegion?>(nil)
    /// The device's statistics registers, summed.
    let deviceTotals = Mutex(DeviceCounters())
    /// Received packets left in the ring at D0 exit: the device counted them, the driver never took them.
    let leftInRing = Atomic<Int>(0)
    /// Packets handed to the device that it had not sent at D0 exit.
    let notSent = Atomic<Int>(0)
    /// The hot loop running in the DPC (interrupt mode), set once forwarding starts.
    let forwarding = Mutex<Forwarder?>(nil)
    /// Tells a polling loop to stop, and hears that it has.
    let pollStop = Atomic<Bool>(false)
    let pollStopped = DispatchSemaphore(value: 0)
    let pollRunning = Atomic<Bool>(false)

    init(slot: String, log: @escaping @Sendable (String) -> Void) {
        self.slot = slot
        self.log = log
        receiveSlots = .allocate(capacity: Self.ringEntries)
        receiveSlots.initialize(repeating: 0, count: Self.ringEntries)
        transmitSlots = .allocate(capacity: Self.ringEntries)
        transmitSlots.initialize(repeating: 0, count: Self.ringEntries)
        rings = .allocate(capacity: 1)
    }

    deinit {
        receiveSlots.deallocate()
        transmitSlots.deallocate()
        rings.deallocate()  // a trivial value: nothing to deinitialize
    }

    /// Device add: WdfDmaEnablerCreate and the common buffers — both rings' descriptors in one
    /// (aligned as the device requires, 128 bytes), and the packet pool: the receive ring's
    /// buffers, those in flight on the transmit ring, and as many spare.
    func createDMA(for device: Device) throws {
        let enabler = try DMAEnabler(device: device, config: DMAEnablerConfig(profile: .packet64, maximumLength: E1000.receiveBufferSize))
        dma = PortDMA(enabler: enabler,
                      ringMemory: try enabler.createCommonBuffer(length: 2 * Self.ringEntries * E1000.descriptorSize, alignment: 128),
                      pool: try PacketPool(enabler: enabler, chunks: 2))
    }

    var pool: PacketPool { dma.pool }
    private var ringMemory: CommonBuffer { dma.ringMemory }

    var receiveRingAddress: UInt64 { ringMemory.alignedLogicalAddress }
    var transmitRingAddress: UInt64 { ringMemory.alignedLogicalAddress + UInt64(Self.ringEntries * E1000.descriptorSize) }

    /// BAR0, or an error outside prepare hardware … release hardware.
    func mappedRegisters() throws -> MappedRegion {
        guard let registers = registers.withLock({ $0 }) else { throw NICError.notPrepared(slot) }
        return registers
    }

    /// Reads the statistics registers into the totals (each second, and at D0 exit).
    func accumulateDeviceCounters() {
        guard let registers = registers.withLock({ $0 }) else { return }
        deviceTotals.withLock { totals in try? totals.accumulate(from: registers) }
    }

    // MARK: Prepare hardware

    /// EvtDevicePrepareHardware: map BAR0, reset the device (QEMU's model only clears the reset
    /// bit: every register the driver uses is programmed here anyway), read its address, describe
    /// the rings to it, and clear its statistics.
    static func prepareHardware(_ device: Device, _ resources: any HardwareResources) throws {
        let port: E1000Port = device.context()
        let bar = try resources.mapRegion(0)
        try bar.write(E1000.Cause.all, at: E1000.interruptMaskClear)
        try bar.write(try bar.read(UInt32.self, at: E1000.control) | E1000.Control.reset, at: E1000.control)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(100)
        while try bar.read(UInt32.self, at: E1000.control) & E1000.Control.reset != 0 {
            guard clock.now < deadline else { throw NICError.resetStuck(port.slot) }
        }
        try bar.write(E1000.Cause.all, at: E1000.interruptMaskClear)
        _ = try bar.read(UInt32.self, at: E1000.interruptCauseRead)
        try bar.write(try bar.read(UInt32.self, at: E1000.control) | E1000.Control.setLinkUp, at: E1000.control)
        try bar.write(UInt32(0), at: E1000.receiveControl)
        try bar.write(UInt32(0), at: E1000.transmitControl)
        for entry in 0..<E1000.multicastTableEntries { try bar.write(UInt32(0), at: E1000.multicastTable + 4 * entry) }

        let ringBytes = UInt32(ringEntries * E1000.descriptorSize)
        try bar.write(UInt32(truncatingIfNeeded: port.receiveRingAddress), at: E1000.receiveRingBaseLow)
        try bar.write(UInt32(truncatingIfNeeded: port.receiveRingAddress >> 32), at: E1000.receiveRingBaseHigh)
        try bar.write(ringBytes, at: E1000.receiveRingLength)
        try bar.write(UInt32(0), at: E1000.receiveHead)
        try bar.write(UInt32(0), at: E1000.receiveTail)
        try bar.write(UInt32(0), at: E1000.receiveDelayTimer)
        try bar.write(UInt32(truncatingIfNeeded: port.transmitRingAddress), at: E1000.transmitRingBaseLow)
        try bar.write(UInt32(truncatingIfNeeded: port.transmitRingAddress >> 32), at: E1000.transmitRingBaseHigh)
        try bar.write(ringBytes, at: E1000.transmitRingLength)
        try bar.write(UInt32(0), at: E1000.transmitHead)
        try bar.write(UInt32(0), at: E1000.transmitTail)
        try bar.write(UInt32(0), at: E1000.interruptThrottling)

        let descriptors = port.ringMemory.alignedVirtualAddress
        descriptors.initializeMemory(as: UInt8.self, repeating: 0, count: port.ringMemory.length)
        let mask = ringEntries - 1
        port.rings.initialize(to: PortRings(
            receive: ReceiveRing(descriptors: descriptors, slots: port.receiveSlots, mask: mask,
                                 tail: try bar.register(UInt32.self, at: E1000.receiveTail).unmanaged),
            transmit: TransmitRing(descriptors: descriptors + ringEntries * E1000.descriptorSize, slots: port.transmitSlots,
                                   mask: mask, tailRegister: try bar.register(UInt32.self, at: E1000.transmitTail).unmanaged)))
        // Read-to-clear: the totals count from here.
        var discarded = DeviceCounters()
        try discarded.accumulate(from: bar)
        port.registers.withLock { $0 = bar }

        let low = try bar.read(UInt32.self, at: E1000.receiveAddressLow)
        let high = try bar.read(UInt32.self, at: E1000.receiveAddressHigh)
        let mac = (0..<6).map { index in
            let byte = index < 4 ? (low >> (8 * UInt32(index))) & 0xff : (high >> (8 * UInt32(index - 4))) & 0xff
            return String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
        }.joined(separator: ":")
        port.log("\(port.slot): prepare hardware: BAR0 mapped (\(bar.size / 1024) KiB), reset, MAC \(mac), "
                 + "\(ringEntries)-entry rings at 0x\(String(port.receiveRingAddress, radix: 16)), "
                 + "\(port.pool.state.pointee.capacity) packet buffers")
    }

    // MARK: D0 entry and exit

    /// EvtDeviceD0Entry (Bus Master is on): give the receive ring its buffers, then start
    /// receiving (every address, no CRC in the buffer) and transmitting.
    static func d0Entry(_ device: Device) throws {
        let port: E1000Port = device.context()
        let bar = try port.mappedRegisters()
        let pool = port.pool.state
        for index in 0..<ringEntries {
            guard let buffer = pool.pointee.take() else { throw NICError.poolTooSmall(port.slot) }
            port.rings.pointee.receive.arm(index, buffer: buffer, at: pool.pointee.deviceAddress(buffer))
        }
        port.rings.pointee.receive.next = 0
        port.rings.pointee.receive.handBack()  // the device owns every descriptor but the last
        try bar.write(E1000.ReceiveControl.enable | E1000.ReceiveControl.unicastPromiscuous | E1000.ReceiveControl.multicastPromiscuous
                      | E1000.ReceiveControl.broadcastAccept | E1000.ReceiveControl.bufferSize2048 | E1000.ReceiveControl.stripCRC,
                      at: E1000.receiveControl)
        try bar.write(E1000.recommendedInterPacketGap, at: E1000.transmitInterPacketGap)
        try bar.write(E1000.TransmitControl.enable | E1000.TransmitControl.padShortPackets | E1000.TransmitControl.collisionThreshold
                      | E1000.TransmitControl.collisionDistance, at: E1000.transmitControl)
        let linkUp = try bar.read(UInt32.self, at: E1000.status) & E1000.Status.linkUp != 0
        port.log("\(port.slot): D0 entry: receiving and transmitting, link \(linkUp ? "up" : "down")")
    }

    /// EvtDeviceD0Exit: stop a polling loop, stop the device receiving and transmitting, and count
    /// what the device received that the driver never took.
    static func d0Exit(_ device: Device) {
        let port: E1000Port = device.context()
        port.stopPolling()
        // The DPC has run its last (the framework flushes it before D0 exit): the forwarder, which
        // holds this port, goes.
        port.forwarding.withLock { $0 = nil }
        guard let bar = try? port.mappedRegisters() else { return }
        try? bar.write(E1000.Cause.all, at: E1000.interruptMaskClear)
        try? bar.write(UInt32(0), at: E1000.receiveControl)
        try? bar.write(UInt32(0), at: E1000.transmitControl)
        // A removed output port may still be written by the input's forwarder, which owns its
        // transmit ring until the input stops: its rings are not read, and its counts are not compared.
        if device.removalReason == nil {
            port.leftInRing.store(port.rings.pointee.receive.filledCount(), ordering: .relaxed)
            port.notSent.store(port.rings.pointee.transmit.unsentCount(), ordering: .relaxed)
        }
        port.accumulateDeviceCounters()
        port.log("\(port.slot): D0 exit")
    }

    /// Stops a polling loop on this port, if one runs, and waits for it to end.
    func stopPolling() {
        // Sequentially consistent on both sides (here and in `polling`): one of the two always
        // sees the other's store, so a loop that starts now either sees the stop or is waited for.
        pollStop.store(true, ordering: .sequentiallyConsistent)
        guard pollRunning.load(ordering: .sequentiallyConsistent) else { return }
        while pollStopped.wait(timeout: .now() + 1) == .timedOut {
            log("\(slot): waiting for the polling loop to stop")
        }
    }

    /// Runs `body` as this port's polling loop: until `stopPolling()` or `body` returns.
    func polling(_ body: () throws -> Void) rethrows {
        pollRunning.store(true, ordering: .sequentiallyConsistent)
        defer {
            pollRunning.store(false, ordering: .releasing)
            pollStopped.signal()
        }
        guard !pollStop.load(ordering: .sequentiallyConsistent) else { return }
        try body()
    }

    /// Whether a polling loop should stop.
    @inline(__always)
    var shouldStopPolling: Bool { pollStop.load(ordering: .relaxed) }
}

enum NICError: Error, CustomStringConvertible {
    case notPrepared(String)
    case resetStuck(String)
    case poolTooSmall(String)
    case outputNotStarted(String)
    case notE1000(String, String)
    case countsDisagree(String)
    case corrupted(UInt64)

    var description: String {
        switch self {
        case .notPrepared(let slot): "\(slot): the registers are not mapped (the device is not started)"
        case .resetStuck(let slot): "\(slot): the device reset did not complete within 100 ms"
        case .poolTooSmall(let slot): "\(slot): the packet pool ran out while filling the receive ring"
        case .outputNotStarted(let slot): "\(slot): the output port did not start within 30 s"
        case .notE1000(let slot, let ids): "\(slot) is \(ids), not QEMU's e1000 (8086:100e)"
        case .countsDisagree(let what): "the device's and the driver's counts disagree: \(what)"
        case .corrupted(let count): "\(count) received packets failed their check"
        }
    }
}
