// The end of a run: the driver's counts against the device's, the payload checks, the interrupt
// object's count against the kernel's. A disagreement fails the command.

import Synchronization

/// Compares and reports; throws at the first disagreement, after printing every line.
struct Summary {
    let log: @Sendable (String) -> Void

    /// pktgen: what the driver handed over against what the device sent.
    func transmitted(by driver: E1000Driver) throws {
        let port = driver.port
        if let reason = driver.device.removalReason {
            log("\(port.slot): removed (\(reason)): counts not compared")
            return
        }
        let device = port.deviceTotals.withLock { $0 }
        let handed = port.counters.counters.value(.transmittedPackets)
        let unsent = UInt64(port.notSent.load(ordering: .relaxed))
        let agree = device.transmittedPackets == handed - unsent
        log("\(port.slot): sent \(handed) test packets (\(device.transmittedBytes) bytes by the device's count); "
            + "the device counted \(device.transmittedPackets) = the driver's \(handed) − \(unsent) not sent at stop: \(agree ? "agree" : "DISAGREE")")
        guard agree else { throw NICError.countsDisagree("\(port.slot) transmitted") }
    }

    /// fwd: received against forwarded, both devices' counts, the payloads and the interrupts.
    func forwarded(from input: E1000Driver, to output: E1000Driver, checked: Bool) throws {
        var failures: [NICError] = []
        let counters = input.port.counters.counters
        let received = counters.value(.receivedPackets)
        if let reason = input.device.removalReason ?? output.device.removalReason {
            log("a port was removed (\(reason)): counts not compared; \(received) packets forwarded before")
            return
        }
        let inputDevice = input.port.deviceTotals.withLock { $0 }
        let left = UInt64(input.port.leftInRing.load(ordering: .relaxed))
        let receiveAgrees = inputDevice.receivedPackets == received + left
        log("\(input.port.slot): received: the device counted \(inputDevice.receivedPackets) = the driver's \(received) "
            + "+ \(left) left in the ring at stop: \(receiveAgrees ? "agree" : "DISAGREE")"
            + (inputDevice.missedPackets > 0 ? " (\(inputDevice.missedPackets) missed for want of a descriptor)" : ""))
        if !receiveAgrees { failures.append(.countsDisagree("\(input.port.slot) received")) }

        let outputDevice = output.port.deviceTotals.withLock { $0 }
        let forwarded = output.port.counters.counters.value(.transmittedPackets)
        let unsent = UInt64(output.port.notSent.load(ordering: .relaxed))
        let transmitAgrees = outputDevice.transmittedPackets == forwarded - unsent && forwarded == received
        log("\(output.port.slot): transmitted: the device counted \(outputDevice.transmittedPackets) = the driver's \(forwarded) "
            + "− \(unsent) not sent at stop, every received packet forwarded: \(transmitAgrees ? "agree" : "DISAGREE")")
        if !transmitAgrees { failures.append(.countsDisagree("\(output.port.slot) transmitted")) }

        if checked {
            let corrupted = counters.value(.corrupted)
            let outOfOrder = counters.value(.outOfOrder)
            let runs = counters.value(.runChanges)
            let rings = input.port.rings.pointee
            let span = rings.sequencesSeen ? rings.lastSequence - rings.firstSequence + 1 : 0
            log("payloads: \(received) checked, \(corrupted) corrupted, \(outOfOrder) out of order (QEMU's network queue may deliver "
                + "a new packet before held ones)" + (runs > 0 ? ", \(runs) changes of sending run (an earlier run's packets held by QEMU)" : "")
                + "; the latest run's sequence numbers \(rings.firstSequence)…\(rings.lastSequence), "
                + "\(span > rings.runPackets ? span - rings.runPackets : 0) of them never reached the ring (dropped at the hub while it was full)")
            // Out of order is reported, not failed: QEMU's network queue can deliver a new packet
            // before the ones it held while the ring was full. Corruption is the driver's.
            if corrupted > 0 { failures.append(.corrupted(corrupted)) }
        }

        let handOvers = counters.value(.handOvers)
        log("batches: \(received) packets in \(handOvers) hand-overs, "
            + "\(handOvers > 0 ? format(Double(received) / Double(handOvers), digits: 1) : "–") per hand-over")

        if let interrupt = input.interrupt {
            let statistics = interrupt.statistics
            let kernel = input.kernelInterrupts()
            let agree = kernel == statistics.interrupts
            log("interrupts: the object counted \(statistics.interrupts), the kernel \(kernel.map(String.init) ?? "?"): "
                + "\(agree ? "agree" : "DISAGREE"); \(statistics.wakeUps) ISR calls, \(statistics.recognized) recognized, "
                + "\(statistics.dpcRuns) DPC runs (\(counters.value(.drainedPolls)) drained the ring, "
                + "\(counters.value(.budgetPolls)) used the budget); \(received) packets, "
                + "\(statistics.interrupts > 0 ? "\(received / statistics.interrupts)" : "–") per interrupt")
            if !agree { failures.append(.countsDisagree("interrupts")) }
        }
        if let first = failures.first { throw first }
    }
}

/// Allocations on the forwarding threads, counted from a warm-up point to the end of forwarding.
final class AllocationWindow: Sendable {
    private let probe: AllocationProbe?
    private let warmUp: UInt64
    private let threads: [String]
    private let window = Mutex<(start: Snapshot?, end: Snapshot?)>((nil, nil))

    private struct Snapshot {
        let packets: UInt64
        let allocations: [String: UInt64]
    }

    init(probe: AllocationProbe?, warmUp: UInt64, threads: [String]) {
        self.probe = probe
        self.warmUp = warmUp
        self.threads = threads
    }

    /// Takes the starting snapshot once `packets` have passed the warm-up.
    func observe(packets: UInt64) {
        guard let probe, packets >= warmUp else { return }
        window.withLock { window in
            if window.start == nil { window.start = Snapshot(packets: packets, allocations: probe.allocationsByThread()) }
        }
    }

    /// Takes the closing snapshot: forwarding has stopped (before the threads' own teardown).
    func finish(packets: UInt64) {
        guard let probe else { return }
        window.withLock { window in
            if window.start != nil { window.end = Snapshot(packets: packets, allocations: probe.allocationsByThread()) }
        }
    }

    func report(log: (String) -> Void) {
        guard probe != nil else { return }
        let (start, end) = window.withLock { $0 }
        guard let start, let end else {
            log("allocations: not counted, fewer than \(warmUp) packets forwarded")
            return
        }
        // Signed: a name's total could drop if a thread of another name took its number.
        let counted = threads.map { "\($0) \(Int64(bitPattern: (end.allocations[$0] ?? 0) &- (start.allocations[$0] ?? 0)))" }
        log("allocations over the last \(end.packets - start.packets) packets (after \(start.packets) to warm up): "
            + counted.joined(separator: ", "))
    }
}
