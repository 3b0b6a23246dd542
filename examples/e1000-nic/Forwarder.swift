// The hot loop: packets from one port's receive ring to another port's transmit ring, the same
// buffers, no copy. It runs in the input port's DPC (interrupt mode) or on a polling thread.
//
// How it avoids reference counting, which is what kept ixy.swift far below C: everything the
// loop touches per packet is a trivial value reached through an unsafe pointer — the rings
// (`ReceiveRing`, `TransmitRing`: descriptor and slot pointers, indices and bare register
// addresses, `UnmanagedRegister`), the pool (`PacketPoolState`: pointers and a free stack of
// buffer numbers) and the counters (`Counters`: a pointer to atomics). No class reference, no
// existential, no array, no closure is touched inside the loop, so the compiler has nothing to
// retain or release; the objects that own the memory (`E1000Port`, `PacketPool`,
// `CounterStorage`, the common buffers and BAR0) are held by the `Forwarder` for as long as the
// loop may run. `forwardBatch` is the whole loop, a static function of pointers.

import QEMUDevices
import Synchronization
import UIO
import UIODriver

/// Forwards from `input`'s receive ring to `output`'s transmit ring, with `input`'s pool.
final class Forwarder: @unchecked Sendable {
    // @unchecked: the pointers it holds are used by one thread at a time (see `E1000Port`).
    let input: E1000Port
    let output: E1000Port
    let batch: Int
    let checksPayload: Bool

    // What the loop uses, read once here.
    private let inputRings: UnsafeMutablePointer<PortRings>
    private let outputRings: UnsafeMutablePointer<PortRings>
    private let pool: UnsafeMutablePointer<PacketPoolState>
    private let inputCounters: Counters
    private let outputCounters: Counters

    init(from input: E1000Port, to output: E1000Port, batch: Int, checksPayload: Bool) {
        self.input = input
        self.output = output
        self.batch = batch
        self.checksPayload = checksPayload
        inputRings = input.rings
        outputRings = output.rings
        pool = input.pool.state
        inputCounters = input.counters.counters
        outputCounters = output.counters.counters
    }

    /// Up to one batch: returns the packets moved.
    @inline(__always)
    func forwardBatch() -> Int {
        Self.forwardBatch(inputRings, outputRings, pool, batch: batch, checksPayload: checksPayload,
                          inputCounters: inputCounters, outputCounters: outputCounters)
    }

    /// The loop itself, on trivial values only.
    static func forwardBatch(_ input: UnsafeMutablePointer<PortRings>, _ output: UnsafeMutablePointer<PortRings>,
                             _ pool: UnsafeMutablePointer<PacketPoolState>, batch: Int, checksPayload: Bool,
                             inputCounters: Counters, outputCounters: Counters) -> Int {
        output.pointee.transmit.reclaim(into: &pool.pointee)
        var moved = 0
        var bytes = 0
        var corrupted = 0
        var outOfOrder = 0
        var newRuns = 0
        while moved < batch, input.pointee.receive.hasPacket, output.pointee.transmit.hasRoom,
              let fresh = pool.pointee.take() {
            // The status said done: only now read what the device wrote before it.
            atomicMemoryFence(ordering: .acquiring)
            let index = input.pointee.receive.next
            let descriptor = input.pointee.receive.descriptor(index)
            let length = Int(UInt16.volatileLoad(from: descriptor + E1000.ReceiveDescriptor.length))
            let buffer = input.pointee.receive.slots[index]
            input.pointee.receive.arm(index, buffer: fresh, at: pool.pointee.deviceAddress(fresh))
            input.pointee.receive.next = (index &+ 1) & input.pointee.receive.mask

            let frame = pool.pointee.virtualAddress(buffer)
            if checksPayload {
                if let (sequence, runTag) = TestPacket.verified(frame, length: length) {
                    let seen = input.pointee.count(sequence: sequence, runTag: runTag)
                    if seen.outOfOrder { outOfOrder &+= 1 }
                    if seen.newRun { newRuns &+= 1 }
                } else {
                    corrupted &+= 1
                }
            } else {
                // As ixy's forwarder does: touch the packet, so it is not a copy of descriptors alone.
                frame.storeBytes(of: frame.load(fromByteOffset: 1, as: UInt8.self) &+ 1, toByteOffset: 1, as: UInt8.self)
            }
            output.pointee.transmit.enqueue(buffer: buffer, at: pool.pointee.deviceAddress(buffer), length: length)
            moved &+= 1
            bytes &+= length
        }
        if moved > 0 {
            input.pointee.receive.handBack()
            output.pointee.transmit.handOver()
            inputCounters.add(.handOvers, 1)
            inputCounters.add(.receivedPackets, moved)
            inputCounters.add(.receivedBytes, bytes)
            outputCounters.add(.transmittedPackets, moved)
            outputCounters.add(.transmittedBytes, bytes)
            if corrupted > 0 { inputCounters.add(.corrupted, corrupted) }
            if outOfOrder > 0 { inputCounters.add(.outOfOrder, outOfOrder) }
            if newRuns > 0 { inputCounters.add(.runChanges, newRuns) }
        }
        return moved
    }

    /// Polls until the input port is told to stop, `deadline` passes or `packets` are forwarded:
    /// ixy's way, every CPU cycle spent looking at the ring.
    func poll(until deadline: ContinuousClock.Instant?, packets: UInt64?) {
        input.polling {
            var rounds = 0
            var forwarded: UInt64 = 0
            let limit = packets ?? .max
            while !input.shouldStopPolling && forwarded < limit {
                forwarded &+= UInt64(forwardBatch())
                rounds &+= 1
                // The clock is read once in 4096 rounds, as ixy reads its.
                if rounds & 4095 == 0, let deadline, ContinuousClock.now >= deadline { break }
            }
        }
    }
}

/// What the input port's ISR hands its DPC (the interrupt object's context).
struct NAPIState: Sendable {
    /// Receive causes seen by the ISR since the DPC last looked.
    var causes: UInt32 = 0
    /// `EvtInterruptDisable` has run: a DPC still running must not unmask the device again.
    var disabled = false
}

/// Interrupt mode, Linux NAPI's shape on WDF's objects: the ISR masks the device's interrupts and
/// queues the DPC; the DPC forwards while there is work, up to a budget, queuing itself again
/// when the budget is spent, and unmasks the receive interrupt only once it can do no more. A
/// busy link so costs no interrupt per packet, an idle one no forwarding work.
enum NAPI {
    /// Packets per DPC run before it queues itself again.
    static let budget = 256

    /// EvtInterruptIsr: is it ours (a cause is set)? Mask every cause and queue the DPC.
    static func isr(_ interrupt: Interrupt<NAPIState>, _ messageID: UInt32) -> Bool {
        let port: E1000Port = interrupt.device.context()
        guard let bar = try? port.mappedRegisters(),
              let causes = try? bar.read(UInt32.self, at: E1000.interruptCauseRead), causes != 0
        else { return false }  // not ours: the line is shared
        try? bar.write(E1000.Cause.all, at: E1000.interruptMaskClear)
        interrupt.withLockedContext { $0.causes |= causes }
        interrupt.queueDPC()
        return true
    }

    /// EvtInterruptDpc: forward up to the budget. Budget spent: queue itself again. Otherwise
    /// unmask: a packet that comes between the last look and the unmask raised its cause while
    /// masked, and the unmask raises the interrupt for it. A run that could move nothing although
    /// the ring holds packets (the output ring full, the pool empty) unmasks too, and waits for
    /// the next packet's interrupt rather than spinning.
    static func dpc(_ interrupt: Interrupt<NAPIState>, _ associatedObject: any FrameworkObject) {
        let port: E1000Port = interrupt.device.context()
        interrupt.synchronize { $0.causes = 0 }
        guard let forwarder = port.forwarding.withLock({ $0 }), let bar = try? port.mappedRegisters() else { return }
        var moved = 0
        while moved < budget {
            let batch = forwarder.forwardBatch()
            moved += batch
            if batch == 0 { break }
        }
        let counters = port.counters.counters
        let more = moved >= budget
        counters.add(more ? .budgetPolls : .drainedPolls, 1)
        interrupt.synchronize { state in
            guard !state.disabled else { return }
            if more {
                interrupt.queueDPC()
            } else {
                try? bar.write(E1000.Cause.receive, at: E1000.interruptMaskSet)
            }
        }
    }

    /// EvtInterruptEnable (the lock held): a later `start(_:interrupt:)` unmasks the device.
    static func enable(_ interrupt: Interrupt<NAPIState>, _ device: Device) throws {
        interrupt.withLockedContext { $0.disabled = false }
    }

    /// EvtInterruptDisable (the lock held): mask every cause, and keep a running DPC from
    /// unmasking them again.
    static func disable(_ interrupt: Interrupt<NAPIState>, _ device: Device) throws {
        interrupt.withLockedContext { $0.disabled = true }
        let port: E1000Port = device.context()
        try port.mappedRegisters().write(E1000.Cause.all, at: E1000.interruptMaskClear)
    }

    /// Starts forwarding in interrupt mode: the DPC gets the forwarder, the device its receive
    /// interrupt.
    static func start(_ forwarder: Forwarder, interrupt: Interrupt<NAPIState>) throws {
        let port = forwarder.input
        port.forwarding.withLock { $0 = forwarder }
        let bar = try port.mappedRegisters()
        try interrupt.synchronize { state in
            guard !state.disabled else { return }
            try bar.write(E1000.Cause.receive, at: E1000.interruptMaskSet)
        }
        // Packets that came before the unmask raised no interrupt of their own.
        interrupt.queueDPC()
    }
}
