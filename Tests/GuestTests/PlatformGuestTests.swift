import UIOPlatform
import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver

/// The aarch64 guest's platform device: QEMU's PL031 RTC, declared `generic-uio` in the device
/// tree and bound to uio_pdrv_genirq, whose handler disables the line until irqcontrol re-arms it.
@Suite("Platform guest", .serialized, .enabled(if: PlatformGuest.isActive || Guest.isRequired, PlatformGuest.reason))
struct PlatformGuestTests {
    init() throws { try #require(PlatformGuest.isActive, "not in the aarch64 guest") }

    /// What the ISR saw.
    struct Seen: Sendable {
        var isrCalls = 0
        var maskedStatus: UInt32 = 0
    }

    /// The PL031 with an interrupt object whose ISR acknowledges the alarm through ICR and queues
    /// the DPC; it never touches irqcontrol. `signal` is signalled once per ISR call.
    struct Rig {
        let uio: UIODevice
        let device: Device
        let registers: MappedRegion
        let interrupt: Interrupt<Seen>
        let dpcRuns: Counter

        /// `acknowledge: false` leaves the alarm asserted, so every re-arm delivers it again.
        init(signal: DispatchSemaphore, acknowledge: Bool = true, removed: (@Sendable (UIOError) -> Void)? = nil) throws {
            uio = try PlatformGuest.rtc()
            let handle = try uio.open()
            let registers = try handle.mapRegion(0)
            let dpcRuns = Counter()
            device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { _, reason in removed?(reason) }))
            interrupt = try Interrupt(parent: device, config: InterruptConfig<Seen>(
                isr: { interrupt, _ in
                    let status = (try? registers.read(UInt32.self, at: PL031.maskedInterruptStatus)) ?? 0
                    guard status != 0 else { return false }
                    if acknowledge { try? registers.write(UInt32(1), at: PL031.interruptClear) }
                    interrupt.queueDPC()
                    interrupt.withLockedContext { seen in
                        seen.isrCalls += 1
                        seen.maskedStatus |= status
                    }
                    signal.signal()
                    return true
                },
                dpc: { _, _ in dpcRuns.value.add(1, ordering: .relaxed) }), context: Seen())
            self.registers = registers
            self.dpcRuns = dpcRuns
        }
    }

    final class Counter: Sendable { let value = Atomic<Int>(0) }

    @Test("libudev finds the device-tree node as a platform-parented UIO device named by linux,uio-name, with a map per reg entry")
    func discovery() throws {
        let uio = try PlatformGuest.rtc()
        #expect(uio.version == "devicetree")
        let parent = try #require(uio.parent)
        #expect(parent.subsystem == "platform")
        #expect(parent.sysName == "9010000.pl031")
        #expect(parent.driver == "uio_pdrv_genirq")
        #expect(parent.pci == nil)
        // Two `reg` entries, named by `reg-names`: the RTC's page, and the PL061 GPIO block's
        // identification registers, 0x20 bytes at 0xfe0 into a page. The kernel exports the
        // page's address, the offset into it, and size = PAGE_ALIGN(offset + length).
        #expect(uio.maps.map(\.index) == [0, 1])
        #expect(uio.maps.map(\.name) == ["rtc", "gpio"])
        #expect(uio.maps.map(\.address) == [0x901_0000, 0x903_0000])
        #expect(uio.maps.map(\.offset) == [0, 0xfe0])
        #expect(uio.maps.map(\.size) == [0x1000, 0x1000])
        #expect(try UIODevice.first(.platform("9010000.pl031")) == uio)
        #expect(try UIODevice.first(DeviceSelector("uio\(uio.number)")) == uio)
        #expect(ReArmMethod.detect(for: uio) == .irqControl)

        // The line, found by the handler the UIO core registered under the device's name.
        let irq = try #require(KernelIRQ.read(for: uio))
        #expect(irq.handlers == ["pl031-uio"])
        #expect(irq.trigger == .level)
        #expect(irq.controller.hasPrefix("GIC"))

        // Each map is its device: the PrimeCell identification registers read PL031's and PL061's.
        let handle = try uio.open()
        defer { handle.close() }
        let registers = try handle.mapRegion(0)
        #expect(try registers.read(UInt32.self, at: PL031.peripheralID0) == 0x31)
        #expect(try registers.read(UInt32.self, at: PL031.peripheralID1) == 0x10)
        // The sub-page map: one page mapped (uio_mmap refuses more than `size`), the registers
        // from 0xfe0 to the end of the page.
        let gpio = try handle.mapRegion(1)
        #expect(gpio.size == 0x20)
        #expect(try gpio.read(UInt32.self, at: 0x00) == 0x61, "PL061's PeriphID0")
        #expect(try gpio.read(UInt32.self, at: 0x1c) == 0xb1, "PrimeCell's CellID3")
        #expect(throws: UIOError.self) { try gpio.read(UInt32.self, at: 0x20) }
        // A 64-bit access at region offset 4 would touch 0x9030fe4: misaligned on the bus.
        #expect(throws: UIOError.self) { try gpio.read(UInt64.self, at: 0x04) }
        #expect(throws: UIOError.self) { try handle.mapRegion(2) }
    }

    @Test("five alarms through the interrupt object: the ISR acknowledges through ICR, irqcontrol is re-armed for it, the DPC runs, the counts equal the kernel's")
    func alarms() throws {
        let signal = DispatchSemaphore(value: 0)
        let rig = try Rig(signal: signal)
        let before = try rig.uio.currentEventCount()
        try rig.device.start()
        let alarms = 5
        for alarm in 1...alarms {
            try PL031.armAlarm(rig.registers)
            guard signal.wait(timeout: .now() + 10) == .success else {
                Issue.record("alarm \(alarm) did not reach the ISR within 10 s")
                break
            }
            // The DPC ran before the next alarm: the ISR queued it once per interrupt.
            #expect(waitUntil { rig.dpcRuns.value.load(ordering: .relaxed) == alarm })
            #expect(try rig.registers.read(UInt32.self, at: PL031.rawInterruptStatus) == 0, "ICR cleared the alarm")
        }
        rig.device.stop()
        let kernel = try rig.uio.currentEventCount() &- before
        let statistics = rig.interrupt.statistics
        #expect(kernel == UInt32(alarms))
        #expect(statistics.interrupts == UInt64(alarms))
        #expect(statistics.recognized == UInt64(alarms))
        #expect(statistics.dpcRuns == UInt64(alarms))
        #expect(statistics.rearmFailures == 0)
        #expect(rig.interrupt.synchronize { $0.isrCalls } == alarms)
        #expect(rig.interrupt.synchronize { $0.maskedStatus } == 1)
    }

    @Test("without a re-arm the kernel delivers no second interrupt, and a late one delivers it at once")
    func reArmIsWhatDeliversTheNextInterrupt() throws {
        // The control for the test above: the same device, read through a bare line that never
        // re-arms on its own.
        let uio = try PlatformGuest.rtc()
        let handle = try uio.open()
        defer { handle.close() }
        let registers = try handle.mapRegion(0)
        let line = try handle.interruptLine(reArm: .irqControl)
        defer { line.close() }
        try line.enable()

        try PL031.armAlarm(registers)
        guard case .interrupt = try line.wait(timeout: .seconds(10)) else {
            Issue.record("the first alarm did not arrive within 10 s")
            return
        }
        try registers.write(UInt32(1), at: PL031.interruptClear)
        try PL031.armAlarm(registers)
        #expect(try line.wait(timeout: .milliseconds(2_500)) == .timedOut, "uio_pdrv_genirq disabled the line")
        #expect(try registers.read(UInt32.self, at: PL031.rawInterruptStatus) == 1, "the alarm did fire")

        let started = ContinuousClock.now
        try line.rearm()
        let delivered = try line.wait(timeout: .seconds(5))
        let latency = ContinuousClock.now - started
        guard case .interrupt(let event) = delivered else {
            Issue.record("the re-arm did not deliver the pending alarm: \(delivered)")
            return
        }
        #expect(event.newInterrupts == 1)
        #expect(latency < .seconds(1), "pending, so delivered at once rather than by a later alarm: \(latency)")
        try registers.write(UInt32(1), at: PL031.interruptClear)
        try line.rearm()
        print("platform: a held-back alarm arrived \(latency) after the re-arm")
    }

    @Test("disable() holds an armed alarm back; enable() delivers it at once")
    func disableHoldsEnableDelivers() throws {
        let signal = DispatchSemaphore(value: 0)
        let rig = try Rig(signal: signal)
        defer { rig.device.stop() }
        let before = try rig.uio.currentEventCount()
        try rig.device.start()
        try rig.interrupt.disable()
        #expect(!rig.interrupt.isEnabled)

        try PL031.armAlarm(rig.registers)
        #expect(signal.wait(timeout: .now() + 2.5) == .timedOut, "no ISR while disabled")
        #expect(try rig.registers.read(UInt32.self, at: PL031.rawInterruptStatus) == 1, "the alarm fired meanwhile")
        #expect(try rig.uio.currentEventCount() == before, "the kernel held it back too")

        let started = ContinuousClock.now
        try rig.interrupt.enable()
        #expect(signal.wait(timeout: .now() + 5) == .success, "enable() delivered the pending alarm")
        let latency = ContinuousClock.now - started
        #expect(latency < .seconds(1), "at once, not by a later alarm: \(latency)")
        #expect(try rig.uio.currentEventCount() &- before == 1)
        #expect(rig.interrupt.synchronize { $0.isrCalls } == 1)
        print("platform: enable() delivered the held-back alarm after \(latency)")
    }

    @Test("info: the GIC line found through /proc, level-sensitive, the device's alone")
    func info() throws {
        let rig = try Rig(signal: DispatchSemaphore(value: 0))
        defer { rig.device.stop() }
        let info = rig.interrupt.info
        let irq = try #require(KernelIRQ.read(for: rig.uio))
        #expect(info.vector == irq.number)
        #expect(info.mode == .levelSensitive)
        #expect(info.shareDisposition == .deviceExclusive)
        #expect(!info.messageSignaled)
        #expect(!info.targetProcessors.isEmpty)
    }

    @Test("an alarm the ISR never clears re-fires at each re-arm, a real storm; stop() in the middle ends it, and every interrupt the kernel counted is handled or held")
    func levelStormAndStop() throws {
        let uio = try PlatformGuest.rtc()
        do {
            // The rig's mapping holds the claim: it goes before the device is quieted.
            let rig = try Rig(signal: DispatchSemaphore(value: 0), acknowledge: false)
            let before = try rig.uio.currentEventCount()
            try rig.device.start()
            let started = ContinuousClock.now
            try PL031.armAlarm(rig.registers)
            #expect(waitUntil(timeout: 60) { rig.interrupt.synchronize { $0.isrCalls } >= 1_000 }, "the storm reached 1,000 interrupts")
            let stormed = ContinuousClock.now - started
            let stopping = ContinuousClock.now
            rig.device.stop()
            let stopTime = ContinuousClock.now - stopping

            let isrCalls = rig.interrupt.synchronize { $0.isrCalls }
            let kernel = try rig.uio.currentEventCount() &- before
            Thread.sleep(forTimeInterval: 0.5)
            #expect(rig.interrupt.synchronize { $0.isrCalls } == isrCalls, "no ISR after stop()")
            #expect(try rig.uio.currentEventCount() &- before == kernel, "stop() left the line disabled")
            let statistics = rig.interrupt.statistics
            #expect(statistics.interrupts == UInt64(kernel))
            // uio_pdrv_genirq disables the line in its handler, so no two interrupts share a wake-up.
            #expect(statistics.coalesced == 0)
            // An interrupt the ISR thread took as stop() disabled the line is held, not handed to
            // the ISR (no ISR after disable() returns).
            #expect(statistics.held <= 1)
            #expect(isrCalls + Int(statistics.held) == Int(kernel))
            #expect(UInt64(isrCalls) == statistics.wakeUps)
            #expect(statistics.rearmFailures == 0)
            #expect(stopTime < .seconds(10))
            print("platform: \(kernel) interrupts from one uncleared alarm (\(stormed) to reach 1,000), stop() took \(stopTime)")
        }
        try PL031.quiet(uio)
    }

    @Test("300 create/start/stop cycles in a level storm: no fd or thread left behind, and the interrupts handled equal the kernel's count")
    func cyclesInAStorm() throws {
        typealias Usage = GuestSuites.LeakGuestTests.Usage
        let uio = try PlatformGuest.rtc()
        do {
            // Released before the cycles: a live mapping keeps the claim.
            let handle = try uio.open()
            let registers = try handle.mapRegion(0)
            try PL031.armAlarm(registers)
            #expect(waitUntil { (try? registers.read(UInt32.self, at: PL031.rawInterruptStatus)) == 1 }, "the alarm fired")
            handle.close()
        }

        let kernelBefore = try uio.currentEventCount()
        let before = Usage.now()
        var handled: UInt64 = 0
        for _ in 0..<300 {
            let device = Device(resources: try uio.open())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            try device.start()
            #expect(waitUntil { interrupt.statistics.interrupts > 0 })
            device.stop()
            handled += interrupt.statistics.interrupts
        }
        let after = GuestSuites.LeakGuestTests.settled(before)
        let kernel = try uio.currentEventCount() &- kernelBefore
        print("platform leaks, 300 cycles in a storm: before \(before); after \(after); \(handled) interrupts handled, kernel \(kernel)")
        #expect(after.fds <= before.fds)
        #expect(after.threads <= before.threads)
        #expect(handled == UInt64(kernel))
        try PL031.quiet(uio)
    }

    @Test("unbinding the platform device under a working driver: surprise removal with a typed error and a remove uevent; PlatformBinding binds it again through driver_override (an add uevent), and it works")
    func unbindUnderAWorkingDriver() throws {
        let signal = DispatchSemaphore(value: 0)
        let removal = Locked<UIOError?>(nil)
        let rig = try Rig(signal: signal, removed: { reason in removal.withLock { $0 = reason } })
        try rig.device.start()
        try PL031.armAlarm(rig.registers)
        #expect(signal.wait(timeout: .now() + 10) == .success, "the device works before the unbind")

        let name = try #require(rig.uio.parent?.sysName)
        let monitor = try HotplugMonitor()
        defer { monitor.close() }
        let unbound = ContinuousClock.now
        try PlatformBinding.unbind(device: name)
        #expect(waitUntil { removal.withLock { $0 } != nil }, "surprise removal reported")
        let latency = ContinuousClock.now - unbound
        #expect(removal.withLock { $0?.code } == .deviceRemoved)
        #expect(waitUntil { rig.device.state == .stopped })
        #expect(throws: UIOError.self) { try rig.registers.read(UInt32.self, at: PL031.data) }
        #expect(throws: UIOError.self) { try PlatformGuest.rtc() }
        rig.device.stop()
        print("platform: unbind → surprise removal callback after \(latency)")

        let removed = try monitor.next(timeout: .seconds(10))
        #expect(removed?.action == .remove)
        #expect(removed?.number == rig.uio.number)

        let bound = try PlatformBinding.bind(device: name)
        let added = try monitor.next(timeout: .seconds(10))
        #expect(added?.action == .add)
        #expect(added?.number == bound.number)
        #expect(bound.name == "pl031-uio")
        #expect(bound.parent?.driver == "uio_pdrv_genirq")
        #expect(try String(contentsOfFile: "/sys/bus/platform/devices/\(name)/driver_override", encoding: .utf8) == "uio_pdrv_genirq\n")
        let again = DispatchSemaphore(value: 0)
        let rebound = try Rig(signal: again)
        defer { rebound.device.stop() }
        try rebound.device.start()
        try PL031.armAlarm(rebound.registers)
        #expect(again.wait(timeout: .now() + 10) == .success, "the rebound device interrupts")
    }
}

/// Where the platform tests run: the aarch64 guest, `scripts/guest/run.sh --arch aarch64`.
enum PlatformGuest {
    /// Set by the guest's command script (qemu-user reports x86_64 to the test program, so the
    /// architecture cannot be asked for).
    static let isActive = ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_ARCH"] == "aarch64"
    static let reason: Comment = "runs in the aarch64 guest: scripts/guest/run.sh --arch aarch64 -- <test binary> --filter PlatformGuestTests"

    /// The PL031, by the name its device-tree node gives it.
    static func rtc() throws -> UIODevice { try UIODevice.first(.name("pl031-uio")) }
}

/// What the platform tests do to the PL031 again and again.
extension PL031 {
    /// Clears a storm test's alarm and re-enables the line the stop left disabled, so the next
    /// test starts from a quiet device.
    static func quiet(_ uio: UIODevice) throws {
        let handle = try uio.open()
        defer { handle.close() }
        try handle.mapRegion(0).write(UInt32(1), at: interruptClear)
        try handle.interruptLine().enable()
    }

    /// Sets the alarm for the next second and unmasks it: the interrupt comes within a second.
    static func armAlarm(_ registers: MappedRegion) throws {
        let now = try registers.read(UInt32.self, at: data)
        try registers.write(now &+ 1, at: match)
        try registers.write(UInt32(1), at: interruptMask)
    }
}
