import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver

extension GuestSuites {
    /// The interrupt object against real INTx interrupts from QEMU's edu device.
    @Suite("Guest: the interrupt object on real interrupts")
    struct InterruptGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        /// What the ISR and DPC saw.
        struct Seen: Sendable {
            var isrCalls = 0
            var statusBits: UInt32 = 0
            var dpcQueued = 0
        }

        /// An edu device with an interrupt whose ISR acknowledges what the device raised and queues
        /// the DPC; `signal` is signalled once per ISR call.
        struct Rig {
            let uio: UIODevice
            let device: Device
            let registers: MappedRegion
            let interrupt: Interrupt<Seen>

            init(_ uio: UIODevice, signal: DispatchSemaphore? = nil, isrHook: (@Sendable () -> Void)? = nil,
                 dpc: (@Sendable (Interrupt<Seen>, MappedRegion) -> Void)? = nil,
                 disableHook: (@Sendable (MappedRegion) -> Void)? = nil) throws {
                self.uio = uio
                let handle = try uio.open()
                let registers = try handle.mapRegion(0)
                let device = Device(resources: handle)
                let counter = DPCCounter()
                var config = InterruptConfig<Seen>(
                    isr: { interrupt, _ in
                        let status = (try? registers.read(UInt32.self, at: Edu.interruptStatus)) ?? 0
                        guard status != 0 else { return false }
                        try? registers.write(status, at: Edu.acknowledgeInterrupt)
                        isrHook?()
                        let queued = interrupt.queueDPC()
                        interrupt.withLockedContext { seen in
                            seen.isrCalls += 1
                            seen.statusBits |= status
                            if queued { seen.dpcQueued += 1 }
                        }
                        signal?.signal()
                        return true
                    },
                    dpc: { interrupt, _ in
                        counter.runs.add(1, ordering: .relaxed)
                        dpc?(interrupt, registers)
                    })
                if let disableHook { config.disable = { _, _ in disableHook(registers) } }
                interrupt = try Interrupt(parent: device, config: config, context: Seen())
                self.device = device
                self.registers = registers
                self.counter = counter
            }

            private let counter: DPCCounter
            var dpcRunCount: Int { counter.runs.load(ordering: .relaxed) }
        }

        final class DPCCounter: Sendable { let runs = Atomic<Int>(0) }
        final class ResultBox: Sendable { let value = Atomic<UInt32>(0) }

        @Test("10,000 interrupts raised one at a time: every one reaches the ISR, and the counts equal the kernel's")
        func tenThousandInSequence() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let signal = DispatchSemaphore(value: 0)
            let rig = try Rig(uio, signal: signal)
            let before = try uio.currentEventCount()
            try rig.device.start()
            for round in 1...10_000 {
                try rig.registers.write(UInt32(1), at: Edu.raiseInterrupt)
                guard signal.wait(timeout: .now() + 5) == .success else {
                    Issue.record("interrupt \(round) did not reach the ISR within 5 s")
                    break
                }
            }
            rig.device.stop()
            let kernel = try uio.currentEventCount() &- before
            let statistics = rig.interrupt.statistics
            let seen = rig.interrupt.synchronize { $0 }
            #expect(kernel == 10_000)
            #expect(statistics.interrupts == UInt64(kernel))
            #expect(statistics.wakeUps + statistics.held + statistics.coalesced == UInt64(kernel))
            #expect(statistics.recognized == statistics.wakeUps)
            #expect(statistics.unrecognized == 0)
            #expect(seen.isrCalls == Int(statistics.wakeUps))
            #expect(statistics.dpcRuns == UInt64(seen.dpcQueued), "every queued DPC ran before stop returned")
            #expect(rig.dpcRunCount == seen.dpcQueued)
            print("sequential: kernel \(kernel), wake-ups \(statistics.wakeUps), coalesced \(statistics.coalesced), DPC runs \(statistics.dpcRuns), re-arm failures \(statistics.rearmFailures)")
        }

        @Test("10,000 interrupts raised back to back: what the kernel counted, the framework counted")
        func tenThousandBurst() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let rig = try Rig(uio)
            let before = try uio.currentEventCount()
            try rig.device.start()
            for _ in 1...10_000 { try rig.registers.write(UInt32(1), at: Edu.raiseInterrupt) }
            // Settle: the last raise is acknowledged and the line is quiet.
            #expect(waitUntil { (try? rig.registers.read(UInt32.self, at: Edu.interruptStatus)) == 0 })
            Thread.sleep(forTimeInterval: 0.2)
            rig.device.stop()
            let kernel = try uio.currentEventCount() &- before
            let statistics = rig.interrupt.statistics
            #expect(kernel >= 1)
            #expect(statistics.interrupts == UInt64(kernel))
            #expect(statistics.wakeUps + statistics.held + statistics.coalesced == UInt64(kernel))
            #expect(statistics.dpcRuns == UInt64(rig.interrupt.synchronize { $0.dpcQueued }))
            print("burst of 10000 raises: kernel \(kernel), wake-ups \(statistics.wakeUps), coalesced \(statistics.coalesced), DPC runs \(statistics.dpcRuns)")
        }

        @Test("the interrupt lock is held while the ISR runs, as another thread sees")
        func lockHeldDuringISR() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let inISR = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let rig = try Rig(uio, isrHook: {
                inISR.signal()
                _ = release.wait(timeout: .now() + 10)
            })
            try rig.device.start()
            defer { rig.device.stop() }
            try rig.registers.write(UInt32(1), at: Edu.raiseInterrupt)
            try #require(inISR.wait(timeout: .now() + 5) == .success)
            #expect(!rig.interrupt.tryToAcquireLock())
            release.signal()
            #expect(waitUntil { rig.interrupt.statistics.wakeUps == 1 })
            #expect(waitUntil { rig.interrupt.tryToAcquireLock() })
            rig.interrupt.releaseLock()
        }

        @Test("disable keeps interrupts from the ISR (and the kernel) until enable delivers the held one")
        func disableEnable() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let signal = DispatchSemaphore(value: 0)
            let rig = try Rig(uio, signal: signal)
            try rig.device.start()
            defer { rig.device.stop() }
            try rig.interrupt.disable()
            let before = try uio.currentEventCount()
            try rig.registers.write(UInt32(1), at: Edu.raiseInterrupt)
            #expect(signal.wait(timeout: .now() + 0.3) == .timedOut)
            #expect(rig.interrupt.synchronize { $0.isrCalls } == 0)
            #expect(try uio.currentEventCount() == before, "masked at the device, the kernel saw nothing")
            try rig.interrupt.enable()
            #expect(signal.wait(timeout: .now() + 5) == .success)
            #expect(rig.interrupt.synchronize { $0.isrCalls } == 1)
        }

        @Test("an interrupt the kernel delivers while disable() holds the lock reaches the ISR only after enable()")
        func noISRAfterDisable() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let signal = DispatchSemaphore(value: 0)
            let raiseInside = Atomic<Bool>(false)
            let rig = try Rig(uio, signal: signal, disableHook: { registers in
                // The interrupt lock is held and the line not yet masked: the kernel delivers it.
                // Once: not again at the stop that ends the test.
                guard raiseInside.exchange(false, ordering: .relaxed), let before = try? uio.currentEventCount() else { return }
                try? registers.write(UInt32(1), at: Edu.raiseInterrupt)
                _ = waitUntil { ((try? uio.currentEventCount()) ?? before) != before }
            })
            try rig.device.start()
            defer { rig.device.stop() }
            raiseInside.store(true, ordering: .relaxed)
            try rig.interrupt.disable()
            #expect(waitUntil { rig.interrupt.statistics.held == 1 }, "the ISR thread took it, then found the interrupt disabled")
            #expect(rig.interrupt.synchronize { $0.isrCalls } == 0, "no ISR after disable() returned")
            try rig.interrupt.enable()
            // Unacknowledged, edu still asserts INTx: unmasked, the kernel delivers it again.
            #expect(signal.wait(timeout: .now() + 5) == .success)
            #expect(rig.interrupt.synchronize { $0.isrCalls } == 1)
        }

        @Test("a factorial with interrupt on completion: the ISR sees the factorial bit, the DPC reads 12!")
        func factorial() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let result = ResultBox()
            let done = DispatchSemaphore(value: 0)
            let rig = try Rig(uio, dpc: { _, registers in
                result.value.store((try? registers.read(UInt32.self, at: Edu.factorial)) ?? 0, ordering: .relaxed)
                done.signal()
            })
            try rig.device.start()
            defer { rig.device.stop() }
            try rig.registers.write(Edu.Status.interruptOnFactorial, at: Edu.status)
            try rig.registers.write(UInt32(12), at: Edu.factorial)
            #expect(done.wait(timeout: .now() + 5) == .success)
            #expect(result.value.load(ordering: .relaxed) == 479_001_600)
            #expect(rig.interrupt.synchronize { $0.statusBits } == Edu.Interrupt.factorialDone)
        }

        @Test("two edu devices driven at once, each by its own interrupt object")
        func twoDevices() throws {
            let devices = try Guest.eduDevices()
            try #require(devices.count == 2)
            let signals = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
            let rigs = try [Rig(devices[0], signal: signals[0]), Rig(devices[1], signal: signals[1])]
            let before = try devices.map { try $0.currentEventCount() }
            for rig in rigs { try rig.device.start() }
            let rounds = 1000
            for round in 0..<(rounds * 2) {
                let which = round % 2
                try rigs[which].registers.write(UInt32(1), at: Edu.raiseInterrupt)
                guard signals[which].wait(timeout: .now() + 5) == .success else {
                    Issue.record("device \(which), round \(round): no ISR within 5 s")
                    break
                }
            }
            for rig in rigs { rig.device.stop() }
            for (index, rig) in rigs.enumerated() {
                let kernel = try devices[index].currentEventCount() &- before[index]
                #expect(kernel == UInt32(rounds))
                #expect(rig.interrupt.statistics.interrupts == UInt64(rounds))
                #expect(rig.interrupt.synchronize { $0.isrCalls } + Int(rig.interrupt.statistics.coalesced) == rounds)
            }
        }

        @Test("info reports the parent's irq, level-sensitive INTx, and the CPUs /proc allows")
        func info() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let rig = try Rig(uio)
            defer { rig.device.stop() }
            let info = rig.interrupt.info
            #expect(info.vector == uio.parent?.irq)
            #expect(!info.messageSignaled)
            #expect(info.mode == .levelSensitive)
            #expect(info.shareDisposition == .shared)
            #expect(!info.targetProcessors.isEmpty)
            let irq = try KernelIRQ.read(try #require(uio.parent?.irq))
            #expect(irq.handlers.contains("uio_pci_generic"))
            #expect(irq.trigger == .level)
        }
    }
}
