import UIOPlatform
import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver

extension GuestSuites {
    /// Surprise removal for real: the kernel unregisters the device under a working driver.
    @Suite("Guest: surprise removal")
    struct RemovalGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        /// A started driver on `uio` whose surprise-removal callback records when it ran.
        final class Driver: Sendable {
            let device: Device
            let interrupt: Interrupt<Int>
            let registers: MappedRegion
            let removedAt = Atomic<UInt64>(0)

            init(_ uio: UIODevice) throws {
                let handle = try uio.open()
                registers = try handle.mapRegion(0)
                let (status, acknowledge) = (try registers.register(UInt32.self, at: Edu.interruptStatus),
                                             try registers.register(UInt32.self, at: Edu.acknowledgeInterrupt))
                let box = Box()
                device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { _, _ in box.stamp() }))
                interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in
                    let bits = status.read()
                    guard bits != 0 else { return false }
                    acknowledge.write(bits)
                    return true
                }), context: 0)
                self.box = box
                try device.start()
            }

            private let box: Box
            var callbackTime: UInt64 { box.time.load(ordering: .acquiring) }

            final class Box: Sendable {
                let time = Atomic<UInt64>(0)
                func stamp() { time.store(nowNanoseconds(), ordering: .releasing) }
            }
        }

        /// Raises interrupts until the region refuses (the device is gone) or it is stopped.
        final class Storm: Sendable {
            private let stopping = Atomic<Bool>(false)
            private let done = DispatchSemaphore(value: 0)
            let raised = Atomic<Int>(0)

            init(_ registers: MappedRegion) {
                Thread.detachNewThread { [self] in
                    while !stopping.load(ordering: .relaxed) {
                        do {
                            try registers.write(UInt32(1), at: Edu.raiseInterrupt)
                            raised.add(1, ordering: .relaxed)
                        } catch {
                            break  // deviceRemoved: the region no longer touches the BAR
                        }
                    }
                    done.signal()
                }
            }

            func stop() {
                stopping.store(true, ordering: .relaxed)
                done.wait()
            }
        }

        /// Acknowledges whatever the edu device in `slot` still asserts, through `resource0`: with no
        /// driver bound, a level interrupt left high would be unhandled until the kernel disabled
        /// the (shared) line.
        func quiet(slot: String) {
            let fd = open("/sys/bus/pci/devices/\(slot)/resource0", O_RDWR | O_SYNC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            guard let bar = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), bar != MAP_FAILED else { return }
            defer { munmap(bar, 4096) }
            let registers = bar.assumingMemoryBound(to: UInt32.self)
            registers[Edu.acknowledgeInterrupt / 4] = registers[Edu.interruptStatus / 4]
        }

        /// Checks what removal must leave: the callback ran, the device stopped, the region refuses.
        func expectRemoved(_ driver: Driver, since start: UInt64) -> Double {
            #expect(driver.device.waitUntilStopped(timeout: .seconds(20)), "the device did not stop after removal")
            #expect(driver.device.removalReason?.code == .deviceRemoved)
            #expect(driver.callbackTime > 0, "surpriseRemoval did not run")
            let error = #expect(throws: UIOError.self) { try driver.registers.read(UInt32.self, at: Edu.identification) }
            #expect(error?.code == .deviceRemoved)
            return Double(driver.callbackTime &- start) / 1e6
        }

        @Test("unbind under a working driver, blocked and during a storm, 20 times each")
        func unbind() throws {
            var worst: [Bool: Double] = [false: 0, true: 0]
            for storming in [false, true] {
                for _ in 0..<20 {
                    let uio = try #require(try Guest.eduDevices().last)
                    let slot = try #require(uio.parent?.sysName)
                    let driver = try Driver(uio)
                    let storm = storming ? Storm(driver.registers) : nil
                    if storming { usleep(5_000) }
                    let start = nowNanoseconds()
                    try PCIBinding.unbind(slot: slot)
                    worst[storming] = max(worst[storming]!, expectRemoved(driver, since: start))
                    storm?.stop()
                    quiet(slot: slot)
                    _ = try PCIBinding.bind(slot: slot, to: "uio_pci_generic")
                }
            }
            print("surprise removal by unbind, 20 times each: worst removal -> callback \(worst[false]!) ms blocked, \(worst[true]!) ms during a storm")
        }

        @Test("hot-unplug through QEMU's monitor under a working driver, blocked and during a storm, 20 times each",
              .enabled(if: ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_HOTPLUG"] != nil, "needs scripts/guest/run.sh --hotplug"))
        func hotUnplug() throws {
            let monitor = try QEMUMonitor()
            var worst: [Bool: Double] = [false: 0, true: 0]
            for storming in [false, true] {
                for _ in 0..<20 {
                    let before = Set(try Guest.eduDevices().map(\.number))
                    let uio = try #require(try Guest.eduDevices().last)
                    let driver = try Driver(uio)
                    let storm = storming ? Storm(driver.registers) : nil
                    if storming { usleep(5_000) }
                    // QEMU names the guest's edu devices edu0, edu1, …; the last slot is the last id.
                    let id = "edu\(before.count - 1)"
                    let start = nowNanoseconds()
                    try monitor("device_del \(id)")
                    worst[storming] = max(worst[storming]!, expectRemoved(driver, since: start))
                    storm?.stop()
                    #expect(waitUntil(timeout: 20) { (try? Guest.eduDevices().count) == before.count - 1 })
                    guard try monitor.add(id, expecting: before.count) else { return }
                }
            }
            print("surprise removal by hot-unplug (ACPI), 20 times each: worst device_del -> callback \(worst[false]!) ms blocked, \(worst[true]!) ms during a storm")
        }

        @Test("hot-unplug while a thread hammers bare Registers of resource0 and of map0: no SIGBUS, both read all-ones after, checked accesses throw, and a Device without an interrupt object hears of it",
              .enabled(if: ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_HOTPLUG"] != nil, "needs scripts/guest/run.sh --hotplug"))
        func hotUnplugUnderBareAccesses() throws {
            let monitor = try QEMUMonitor()
            let count = try Guest.eduDevices().count
            let uio = try #require(try Guest.eduDevices().last)
            let handle = try uio.open()
            // resource0's mapping is torn down with the device's sysfs files: the next access
            // would raise SIGBUS. map0's keeps reaching the BAR's physical range.
            let bar = try handle.mapPCIResource(0)
            let map = try handle.mapRegion(0)
            let barID = try bar.register(UInt32.self, at: Edu.identification)
            let mapID = try map.register(UInt32.self, at: Edu.identification)
            #expect(barID.read() == 0x0100_00ed)
            let removal = Locked<UIOError?>(nil)
            let device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { _, reason in
                removal.withLock { $0 = reason }
            }))
            try device.start()

            let hammer = Hammer(barID, mapID)
            #expect(waitUntil { hammer.reads.load(ordering: .relaxed) > 1_000 })
            try monitor("device_del edu\(count - 1)")
            #expect(waitUntil(timeout: 20) { removal.withLock { $0 } != nil }, "surpriseRemoval did not run")
            #expect(removal.withLock { $0?.code } == .deviceRemoved)
            #expect(waitUntil { hammer.allOnes.load(ordering: .relaxed) > 0 }, "the bare reads turn all-ones")
            let reads = hammer.stop()
            #expect(barID.read() == 0xffff_ffff)
            #expect(mapID.read() == 0xffff_ffff)
            #expect(throws: UIOError.self) { try bar.read(UInt32.self, at: Edu.identification) }
            #expect(throws: UIOError.self) { try map.read(UInt32.self, at: Edu.identification) }
            #expect(device.waitUntilStopped(timeout: .seconds(20)))
            print("hot-unplug under \(reads) bare reads of resource0 and map0: no SIGBUS, all-ones after")
            #expect(waitUntil(timeout: 20) { (try? Guest.eduDevices().count) == count - 1 })
            _ = try monitor.add("edu\(count - 1)", expecting: count)
        }

        /// Reads two registers as fast as it can, with bare loads, until stopped.
        final class Hammer: Sendable {
            let reads = Atomic<Int>(0)
            let allOnes = Atomic<Int>(0)
            private let stopping = Atomic<Bool>(false)
            private let done = DispatchSemaphore(value: 0)

            init(_ first: Register<UInt32>, _ second: Register<UInt32>) {
                Thread.detachNewThread { [self] in
                    while !stopping.load(ordering: .relaxed) {
                        let (a, b) = (first.read(), second.read())
                        reads.add(1, ordering: .relaxed)
                        if a == 0xffff_ffff && b == 0xffff_ffff { allOnes.add(1, ordering: .relaxed) }
                    }
                    done.signal()
                }
            }

            /// Stops the thread; returns how many reads it made.
            func stop() -> Int {
                stopping.store(true, ordering: .relaxed)
                done.wait()
                return reads.load(ordering: .relaxed)
            }
        }
    }
}

/// QEMU's monitor as the guest reaches it: `scripts/guest/run.sh --hotplug` runs each command
/// the guest leaves in a file and writes the answer beside it.
final class QEMUMonitor {
    private let folder: String
    /// Numbers the requests of the whole run: the host leaves each answer in its folder.
    private static let requests = Locked(0)

    init() throws {
        folder = try #require(ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_HOTPLUG"])
    }

    /// Runs `command`; returns QEMU's answer.
    @discardableResult
    func callAsFunction(_ command: String) throws -> String {
        let request = Self.requests.withLock { count in
            count += 1
            return count
        }
        let base = "\(folder)/\(request)"
        try command.write(toFile: base + ".request.tmp", atomically: false, encoding: .utf8)
        rename(base + ".request.tmp", base + ".request")
        #expect(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: base + ".done") }, "the host did not answer \(command)")
        return (try? String(contentsOfFile: base + ".done", encoding: .utf8)) ?? ""
    }

    /// Adds edu device `id` again and waits for the guest to have `count` of them; `false` (with
    /// an issue recorded) if it does not come back.
    func add(_ id: String, expecting count: Int) throws -> Bool {
        // QEMU lets go of the id only once the guest has ejected the device.
        var answer = try self("device_add edu,id=\(id)")
        for _ in 0..<100 where answer.contains("Duplicate") {
            usleep(200_000)
            answer = try self("device_add edu,id=\(id)")
        }
        guard waitUntil(timeout: 20, { (try? Guest.eduDevices().count) == count }) else {
            Issue.record("the re-added device did not come back; the monitor said: \(answer); info pci: \(try self("info pci"))")
            return false
        }
        return true
    }
}

func nowNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
