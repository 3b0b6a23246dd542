import CTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver
import UIOPlatform

#if canImport(Glibc)
import Glibc
#endif

extension GuestSuites {
    /// Interrupt storms on the real device, with and without signals hitting the ISR thread.
    @Suite("Guest: storms and signals")
    struct StormGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        /// A started edu device whose ISR acknowledges what the device raised.
        func rig(_ uio: UIODevice) throws -> (Device, Interrupt<Int>, MappedRegion) {
            let handle = try uio.open()
            let bar = try handle.mapRegion(0)
            let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
            let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
            let device = Device(resources: handle)
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in
                let bits = status.read()
                guard bits != 0 else { return false }
                acknowledge.write(bits)
                return true
            }), context: 0)
            try device.start()
            return (device, interrupt, bar)
        }

        /// Raises `count` interrupts back to back, then waits for the line to go quiet.
        func storm(_ bar: MappedRegion, count: Int) throws {
            let raise = try bar.register(UInt32.self, at: Edu.raiseInterrupt)
            let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
            for _ in 0..<count { raise.write(1) }
            #expect(waitUntil(timeout: 30) { status.read() == 0 })
            Thread.sleep(forTimeInterval: 0.2)
        }

        @Test("10^5 interrupts back to back: the framework's count equals the kernel's event count")
        func storm() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let before = try uio.currentEventCount()
            let (device, interrupt, bar) = try rig(uio)
            try storm(bar, count: 100_000)
            device.stop()
            let kernel = try uio.currentEventCount() &- before
            let statistics = interrupt.statistics
            print("storm of 10^5 raises: kernel counted \(kernel), wake-ups \(statistics.wakeUps), coalesced \(statistics.coalesced)")
            #expect(statistics.interrupts == UInt64(kernel))
            #expect(statistics.wakeUps + statistics.held + statistics.coalesced == UInt64(kernel))
            #expect(statistics.rearmFailures == 0)
        }

        @Test("a signal to the ISR thread every 100 µs through 5,000 interrupts: nothing lost, no spurious error")
        func signals() throws {
            // Without SA_RESTART, so ppoll and read really see EINTR.
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in }
            action.sa_flags = 0
            sigemptyset(&action.sa_mask)
            sigaction(SIGUSR2, &action, nil)

            let uio = try #require(try Guest.eduDevices().first)
            let before = try uio.currentEventCount()
            let (device, interrupt, bar) = try rig(uio)
            let tid = try #require(Self.threadID(named: "uio\(uio.number)-isr"), "the ISR thread is not to be found")
            let signaller = SignalPump(tid: tid)
            // One at a time, so the ISR thread is in every state (poll, read, ISR, re-arm) when
            // signals land, and every interrupt must be counted on its own.
            let raise = try bar.register(UInt32.self, at: Edu.raiseInterrupt)
            for round in 1...5_000 {
                raise.write(1)
                guard waitUntil(timeout: 5, { interrupt.statistics.wakeUps >= UInt64(round) }) else {
                    Issue.record("interrupt \(round) was lost")
                    break
                }
            }
            let sent = signaller.stop()
            #expect(device.state == .working, "a signal must not end the device: \(String(describing: device.removalReason))")
            device.stop()
            let kernel = try uio.currentEventCount() &- before
            let statistics = interrupt.statistics
            print("5,000 interrupts with \(sent) signals to the ISR thread: kernel counted \(kernel), wake-ups \(statistics.wakeUps), coalesced \(statistics.coalesced)")
            #expect(sent > 1_000)
            #expect(kernel == 5_000)
            #expect(statistics.interrupts == UInt64(kernel))
            #expect(statistics.rearmFailures == 0)
        }

        @Test("an ISR that never acknowledges: edu's level INTx re-fires at each re-arm until the storm guard masks the line; the kernel's count stops; fixed, the driver resumes with disable() and enable()")
        func stormGuard() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let handle = try uio.open()
            let bar = try handle.mapRegion(0)
            let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
            let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
            let raise = try bar.register(UInt32.self, at: Edu.raiseInterrupt)
            let buggy = Atomic<Bool>(true)
            let storms = Locked<[InterruptStorm]>([])
            let device = Device(resources: handle)
            var config = InterruptConfig<Int>(isr: { _, _ in
                let bits = status.read()
                guard bits != 0, !buggy.load(ordering: .relaxed) else { return false }
                acknowledge.write(bits)
                return true
            })
            config.stormGuard = StormGuard(window: 2_000, unrecognizedLimit: 1_990)
            config.interruptStorm = { _, storm in storms.withLock { $0.append(storm) } }
            let interrupt = try Interrupt(parent: device, config: config, context: 0)
            try device.start()
            defer { device.stop() }

            raise.write(1)
            try #require(waitUntil(timeout: 60) { storms.withLock { $0.count } == 1 }, "the guard tripped")
            let storm = try #require(storms.withLock { $0.first })
            print("storm guard: \(storm)")
            #expect(storm.wakeUps == 2_000)
            #expect(storm.unrecognized > 1_990)
            #expect(status.read() != 0, "the device still asserts its interrupt")

            // Masked at the device: the kernel sees no more interrupts, the ISR thread no wake-ups.
            Thread.sleep(forTimeInterval: 0.1)
            let (kernel, wakeUps) = (try uio.currentEventCount(), interrupt.statistics.wakeUps)
            Thread.sleep(forTimeInterval: 0.3)
            #expect(try uio.currentEventCount() == kernel, "the kernel counted interrupts after the guard masked the line")
            #expect(interrupt.statistics.wakeUps == wakeUps)
            #expect(storms.withLock { $0.count } == 1)

            // Fixed: the ISR acknowledges; disable() and enable() unmask, and the held interrupt arrives.
            buggy.store(false, ordering: .relaxed)
            try interrupt.disable()
            try interrupt.enable()
            #expect(waitUntil(timeout: 10) { interrupt.statistics.recognized == 1 }, "the held interrupt reached the fixed ISR")
            for round in 1...10 {
                raise.write(1)
                #expect(waitUntil(timeout: 10) { interrupt.statistics.recognized == UInt64(1 + round) })
            }
            #expect(interrupt.statistics.storms == 1)
        }

        /// The kernel thread id of this process's thread named `name`.
        static func threadID(named name: String) -> pid_t? {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            for task in tasks {
                let comm = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
                if comm.trimmingCharacters(in: .whitespacesAndNewlines) == name { return pid_t(task) }
            }
            return nil
        }
    }
}

/// A thread that sends SIGUSR2 to one thread every 100 µs until stopped.
final class SignalPump: Sendable {
    private let sent = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(tid: pid_t) {
        Thread.detachNewThread { [self] in
            while !stopping.load(ordering: .relaxed) {
                if test_signal_thread(tid, SIGUSR2) == 0 { sent.add(1, ordering: .relaxed) }
                usleep(100)
            }
            done.signal()
        }
    }

    /// Stops sending; returns how many signals were sent.
    func stop() -> Int {
        stopping.store(true, ordering: .relaxed)
        done.wait()
        return sent.load(ordering: .relaxed)
    }
}
