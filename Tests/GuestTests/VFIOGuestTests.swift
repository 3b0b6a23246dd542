import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver
import UIOPlatform

extension Guest {
    /// The devices run.sh put on vfio-pci (--vfio-device), in its order.
    static func vfioDevices() throws -> [PCIDevice] {
        let slots = (ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_VFIO"] ?? "").split(separator: " ").map(String.init)
        return try slots.map { slot in try #require(try PCIDevice.find(.slot(slot)).first, "no PCI device at \(slot)") }
    }

    /// The first device on vfio-pci with these ids.
    static func vfioDevice(vendor: UInt16, device: UInt16) throws -> PCIDevice {
        try #require(try vfioDevices().first { $0.identity.vendor == vendor && $0.identity.device == device },
                     "no \(String(vendor, radix: 16)):\(String(device, radix: 16)) on vfio-pci: run with --vfio-device")
    }
}

extension GuestSuites {
    /// The VFIO backend on a real kernel: q35 with an Intel IOMMU, edu and e1000e on vfio-pci
    /// (run.sh --vfio-device edu --vfio-device e1000e).
    @Suite("Guest: VFIO")
    struct VFIOGuestTests {
        init() throws {
            try #require(Guest.isActive, "not in the guest")
            try #require(!Guest.vfioDevices().isEmpty, "no device on vfio-pci: run with --vfio-device")
        }

        /// An edu device through VFIO with one interrupt object whose ISR acknowledges what it finds
        /// and counts it, and whose DPC signals each handled interrupt.
        struct EduRig {
            let handle: VFIOHandle
            let device: Device
            let registers: MappedRegion
            let interrupt: Interrupt<UInt32>
            let handled = DispatchSemaphore(value: 0)

            init(mode: VFIOInterruptMode = .automatic) throws {
                let pci = try Guest.vfioDevice(vendor: Edu.vendor, device: Edu.device)
                handle = try pci.openVFIO(interrupts: mode)
                let registers = try handle.mapRegion(0)
                device = Device(resources: handle)
                let handled = handled
                interrupt = try Interrupt(parent: device, config: InterruptConfig<UInt32>(
                    isr: { interrupt, _ in
                        let status = (try? registers.read(UInt32.self, at: Edu.interruptStatus)) ?? 0
                        guard status != 0 else { return false }
                        try? registers.write(status, at: Edu.acknowledgeInterrupt)
                        interrupt.withLockedContext { $0 |= status }
                        interrupt.queueDPC()
                        return true
                    },
                    dpc: { _, _ in handled.signal() }), context: 0)
                self.registers = registers
            }

            /// Raises edu's test interrupt and waits for its DPC.
            func raiseAndWait() throws -> Bool {
                try registers.write(Edu.Interrupt.test, at: Edu.raiseInterrupt)
                return handled.wait(timeout: .now() + 5) == .success
            }
        }

        @Test("edu's MSI through VFIO: 10,000 interrupts, each handled by the ISR, counts equal to the eventfd's totals; the interrupt is message 0")
        func eduMSI() throws {
            let rig = try EduRig()
            #expect(rig.handle.interruptMode == .msi)
            #expect(rig.handle.interruptVectorCount == 1)
            try rig.device.start()
            defer { rig.device.stop() }
            #expect(try rig.handle.configSpace().isBusMastering(), "MSI needs Bus Master; the framework turns it on at D0 entry")
            let info = rig.interrupt.info
            #expect(info.messageSignaled && info.messageNumber == 0 && info.mode == .latched)
            #expect(info.vector != nil, "/proc/interrupts lists the vector as vfio-msi[0](slot)")
            let started = ContinuousClock.now
            for round in 0..<10_000 {
                try #require(try rig.raiseAndWait(), "interrupt \(round) was not handled")
            }
            let elapsed = ContinuousClock.now - started
            // The ISR thread counts after the ISR returns; the DPC that woke this thread may run first.
            #expect(waitUntil(timeout: 5) { rig.interrupt.statistics.interrupts == 10_000 }, "\(rig.interrupt.statistics)")
            let statistics = rig.interrupt.statistics
            #expect(statistics.recognized == statistics.wakeUps && statistics.unrecognized == 0)
            #expect(statistics.wakeUps + statistics.held + statistics.coalesced == statistics.interrupts)
            print("VFIO MSI: 10,000 interrupts in \(elapsed), \(statistics)")
        }

        @Test("INTx through VFIO: auto-masked by the kernel, re-armed by one unmask ioctl; 1,000 interrupts handled")
        func eduINTx() throws {
            let rig = try EduRig(mode: .intx)
            #expect(rig.handle.interruptMode == .intx)
            try rig.device.start()
            defer { rig.device.stop() }
            #expect(!rig.interrupt.info.messageSignaled)
            #expect(rig.interrupt.info.mode == .levelSensitive)
            for round in 0..<1_000 {
                try #require(try rig.raiseAndWait(), "interrupt \(round) was not handled")
            }
            #expect(waitUntil(timeout: 5) { rig.interrupt.statistics.interrupts == 1_000 }, "\(rig.interrupt.statistics)")
            let statistics = rig.interrupt.statistics
            #expect(statistics.rearmFailures == 0)
            #expect(statistics.unrecognized == 0)
        }

        @Test("INTx through VFIO masked by disable(): a raise meanwhile runs no ISR; the level line delivers it once enable() unmasks")
        func disableINTx() throws {
            let rig = try EduRig(mode: .intx)
            try rig.device.start()
            defer { rig.device.stop() }
            #expect(try rig.raiseAndWait())
            try rig.interrupt.disable()
            let before = rig.interrupt.statistics
            try rig.registers.write(Edu.Interrupt.test, at: Edu.raiseInterrupt)
            #expect(rig.handled.wait(timeout: .now() + 0.5) == .timedOut, "an ISR ran after disable() returned")
            #expect(rig.interrupt.statistics.held == before.held, "the masked line still signalled")
            try rig.interrupt.enable()
            #expect(rig.handled.wait(timeout: .now() + 5) == .success, "the interrupt raised while masked was lost")
            #expect(rig.interrupt.statistics.replayed == 0, "redelivered by the line, not replayed")
        }

        @Test("a maskless MSI vector raised while disabled: no ISR until enable(), then the held message is handed to it; no IOMMU fault")
        func disableMSI() throws {
            let rig = try EduRig()
            try rig.device.start()
            defer { rig.device.stop() }
            #expect(try rig.raiseAndWait())
            let faults = try #require(Self.iommuWriteFaults(), "the kernel log is root's")
            try rig.interrupt.disable()
            let before = rig.interrupt.statistics
            try rig.registers.write(Edu.Interrupt.test, at: Edu.raiseInterrupt)
            #expect(rig.handled.wait(timeout: .now() + 0.5) == .timedOut, "an ISR ran after disable() returned")
            #expect(rig.interrupt.statistics.recognized == before.recognized)
            try rig.interrupt.enable()
            #expect(rig.handled.wait(timeout: .now() + 5) == .success, "the message raised while disabled was lost")
            #expect(waitUntil(timeout: 5) { rig.interrupt.statistics.replayed == 1 }, "\(rig.interrupt.statistics)")
            #expect(rig.interrupt.statistics.held == 1)
            #expect(Self.iommuWriteFaults() == faults, "the message went to an address the IOMMU refused")
        }

        /// edu's DMA engine through the IOMMU.
        struct DMARig {
            let edu: EduRig
            let enabler: DMAEnabler

            init() throws {
                edu = try EduRig()
                enabler = try DMAEnabler(device: edu.device, config: DMAEnablerConfig(
                    profile: .packet, maximumLength: 4096, addressWidthOverride: Edu.defaultDMAAddressWidth))
            }

            func transfer(ram: UInt64, deviceOffset: Int, count: Int, toRAM: Bool) throws -> Bool {
                let writes = try #require(Edu.dmaTransfer(ram: ram, deviceOffset: deviceOffset, count: count, toRAM: toRAM))
                for (offset, value) in writes { try edu.registers.write(value, at: offset) }
                return edu.handled.wait(timeout: .now() + 10) == .success
            }
        }

        @Test("DMA through the IOMMU: common buffers at IOVAs within edu's 28 bits, copies of random length and offset (fixed seed), every byte checked")
        func dmaThroughTheIOMMU() throws {
            let rig = try DMARig()
            let source = try rig.enabler.createCommonBuffer(length: 4096)
            let destination = try rig.enabler.createCommonBuffer(length: 8192)
            #expect(source.alignedLogicalAddress >= 0x10000 && destination.alignedLogicalAddress + 8191 < 1 << 28)
            #expect(source.alignedLogicalAddress != destination.alignedLogicalAddress)
            print("VFIO DMA: buffers at IOVA 0x\(String(source.alignedLogicalAddress, radix: 16)) and 0x\(String(destination.alignedLogicalAddress, radix: 16))")
            try rig.edu.device.start()
            defer { rig.edu.device.stop() }
            var generator = SplitMix64(seed: 0x1077_d1a5)
            for round in 0..<12 {
                let count = Int.random(in: 1...2048, using: &generator)
                let offset = Int.random(in: 0...(4096 - count), using: &generator)
                let deviceOffset = Int.random(in: 0...(Edu.dmaBufferUsableSize - count), using: &generator)
                let landing = Int.random(in: 0...(8192 - count), using: &generator)
                let pattern = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let fill = ~UInt8(truncatingIfNeeded: round)
                try source.copyBytes(pattern, to: offset)
                try destination.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: fill) }
                try #require(try rig.transfer(ram: source.memory.deviceAddress(at: offset), deviceOffset: deviceOffset, count: count, toRAM: false))
                try #require(try rig.transfer(ram: destination.memory.deviceAddress(at: landing), deviceOffset: deviceOffset, count: count, toRAM: true))
                #expect(try destination.bytes(at: landing, count: count) == pattern, "round \(round): the copy differs")
                let around = try destination.bytes(at: 0, count: landing) + destination.bytes(at: landing + count, count: 8192 - landing - count)
                #expect(around.allSatisfy { $0 == fill }, "round \(round): the device wrote outside the transfer")
            }
        }

        @Test("a DMA to an IOVA nothing is mapped at faults in the IOMMU: the completion still comes, no buffer changes")
        func unmappedIOVAFaults() throws {
            let rig = try DMARig()
            let canary = try rig.enabler.createCommonBuffer(length: 4096)
            let source = try rig.enabler.createCommonBuffer(length: 4096)
            try rig.edu.device.start()
            defer { rig.edu.device.stop() }
            try canary.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xC5) }
            try source.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0x3A) }
            try #require(try rig.transfer(ram: source.alignedLogicalAddress, deviceOffset: 0, count: 2048, toRAM: false))
            // Far above every mapping the enabler made, inside edu's 28 bits.
            let unmapped: UInt64 = 0x0F00_0000
            let faultsBefore = Self.iommuWriteFaults()
            try #require(try rig.transfer(ram: unmapped, deviceOffset: 0, count: 2048, toRAM: true), "the completion did not come")
            #expect(try canary.bytes(at: 0, count: 4096).allSatisfy { $0 == 0xC5 })
            #expect(try source.bytes(at: 0, count: 4096).allSatisfy { $0 == 0x3A })
            if let faultsBefore, let faultsAfter = Self.iommuWriteFaults() {
                #expect(faultsAfter > faultsBefore, "the kernel logged no DMAR write fault")
            } else {
                // Unprivileged (scripts/guest/vfio-check.sh), the kernel log is root's: the script
                // counts the faults around this run.
                print("VFIO DMA: the kernel log is not readable here; the fault is counted by the caller")
            }
        }

        /// The IOMMU's write faults the kernel has logged (`DMAR: [DMA Write …`), read from
        /// `/dev/kmsg` one record at a time until none is left; `nil` when the log is not readable.
        static func iommuWriteFaults() -> Int? {
            let fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var faults = 0
            var record = [UInt8](repeating: 0, count: 8192)
            while true {
                let count = read(fd, &record, record.count)
                if count < 0 && errno == EPIPE { continue }  // overwritten records: skipped
                guard count > 0 else { break }
                if String(decoding: record[..<count], as: UTF8.self).contains("DMAR: [DMA Write") { faults += 1 }
            }
            return faults
        }

        @Test("100 start/stop cycles of edu through VFIO, each stop while another thread raises MSIs as fast as it can: every stop ends, the counts add up, no fd or thread is left")
        func stopDuringMSIs() throws {
            let pci = try Guest.vfioDevice(vendor: Edu.vendor, device: Edu.device)
            let before = LeakGuestTests.Usage.now()
            var interrupts: UInt64 = 0
            for cycle in 0..<100 {
                let handle = try pci.openVFIO()
                let registers = try handle.mapRegion(0)
                let device = Device(resources: handle)
                let interrupt = try Interrupt(parent: device, config: Self.acknowledging(registers), context: 0)
                try device.start()
                let storm = RemovalGuestTests.Storm(registers)
                usleep(UInt32(1_000 + (cycle % 7) * 700))
                device.stop()
                storm.stop()
                #expect(device.state == .stopped)
                let statistics = interrupt.statistics
                #expect(statistics.wakeUps + statistics.held + statistics.coalesced == statistics.interrupts, "cycle \(cycle): \(statistics)")
                #expect(statistics.recognized + statistics.unrecognized == statistics.wakeUps + statistics.replayed, "cycle \(cycle): \(statistics)")
                interrupts += statistics.interrupts
            }
            let after = LeakGuestTests.settled(before)
            print("VFIO: 100 stops under a stream of MSIs, \(interrupts) interrupts; before \(before), after \(after)")
            #expect(after.fds <= before.fds)
            #expect(after.threads <= before.threads)
            #expect(interrupts > 0)
        }

        @Test("unbinding the device from vfio-pci while its driver runs and MSIs stream in: the kernel's request reaches the driver as surprise removal, everything is released, and the unbind completes")
        func removalRequest() throws {
            let pci = try Guest.vfioDevice(vendor: Edu.vendor, device: Edu.device)
            let removal = Locked<UIOError?>(nil)
            let removed = DispatchSemaphore(value: 0)
            do {
                let handle = try pci.openVFIO()
                let registers = try handle.mapRegion(0)
                let device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { _, reason in
                    removal.withLock { $0 = reason }
                    removed.signal()
                }))
                let interrupt = try Interrupt(parent: device, config: Self.acknowledging(registers), context: 0)
                let enabler = try DMAEnabler(device: device, config: DMAEnablerConfig(profile: .packet, maximumLength: 4096))
                _ = try enabler.createCommonBuffer(length: 4096)
                try device.start()
                // Interrupts stream in until the device is gone (the storm then ends itself).
                let storm = RemovalGuestTests.Storm(registers)
                defer { storm.stop() }
                #expect(waitUntil(timeout: 10) { interrupt.statistics.interrupts > 10 })
                let unbound = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    // Blocks until every file on the device is closed.
                    Self.writeSysfs("/sys/bus/pci/drivers/vfio-pci/unbind", pci.slot)
                    unbound.signal()
                }
                #expect(removed.wait(timeout: .now() + 20) == .success, "no surprise removal")
                #expect(removal.withLock { $0 }?.code == .deviceRemoved)
                #expect(waitUntil(timeout: 20) { device.state == .stopped })
                #expect(unbound.wait(timeout: .now() + 30) == .success, "the kernel still waits for the device's files")
                #expect(throws: UIOError.self) { try registers.read(UInt32.self, at: Edu.identification) }
            }
            // Back on vfio-pci for the tests after this one (driver_override still names it).
            Self.writeSysfs("/sys/bus/pci/drivers_probe", pci.slot)
            let group = try #require(pci.iommuGroup)
            #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: "/dev/vfio/\(group)") })
            #expect(try PCIDevice.find(.slot(pci.slot)).first?.driver == "vfio-pci")
        }

        @Test("unbinding a device whose handle is open with a config space held and no driver started: the handle closes itself at the kernel's request, and the unbind completes")
        func removalOfABareHandle() throws {
            let pci = try Guest.vfioDevice(vendor: Edu.vendor, device: Edu.device)
            let handle = try pci.openVFIO()
            let configSpace = try handle.configSpace()
            let registers = try handle.mapRegion(0)
            #expect(try configSpace.command() != 0xFFFF)
            let unbound = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                Self.writeSysfs("/sys/bus/pci/drivers/vfio-pci/unbind", pci.slot)
                unbound.signal()
            }
            #expect(unbound.wait(timeout: .now() + 30) == .success, "the kernel still waits for the device's files")
            #expect(handle.liveness.isRemoved && handle.isClosed)
            #expect(throws: UIOError.self) { try configSpace.command() }
            #expect(throws: UIOError.self) { try registers.read(UInt32.self, at: Edu.identification) }
            Self.writeSysfs("/sys/bus/pci/drivers_probe", pci.slot)
            let group = try #require(pci.iommuGroup)
            #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: "/dev/vfio/\(group)") })
        }

        @Test("device_del of an edu bound to vfio-pci by PCIBinding.bindToVFIO (behind a PCIe root port, QEMU id hotedu) while MSIs stream in: surprise removal, everything released, the device gone",
              .enabled(if: ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_HOTPLUG"] != nil, "needs scripts/guest/run.sh --hotplug"))
        func hotUnplug() throws {
            let monitor = try QEMUMonitor()
            // The root port's bus is not bus 0: the one edu there is the hot-pluggable one.
            let hot = try #require(try PCIDevice.find(.pci(vendor: Edu.vendor, device: Edu.device)).first { !$0.slot.hasPrefix("0000:00:") },
                                   "no edu behind a root port: run.sh --device pcie-root-port,id=rp1,chassis=1,addr=0x18 --device edu,id=hotedu,bus=rp1")
            let pci = try PCIBinding.bindToVFIO(slot: hot.slot)
            #expect(pci.driver == PCIBinding.vfioDriver)
            let removed = DispatchSemaphore(value: 0)
            let handle = try pci.openVFIO()
            let registers = try handle.mapRegion(0)
            let device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { _, _ in removed.signal() }))
            let interrupt = try Interrupt(parent: device, config: Self.acknowledging(registers), context: 0)
            try device.start()
            let storm = RemovalGuestTests.Storm(registers)
            defer { storm.stop() }
            #expect(waitUntil(timeout: 10) { interrupt.statistics.interrupts > 10 })
            let started = ContinuousClock.now
            try monitor("device_del hotedu")
            #expect(removed.wait(timeout: .now() + 20) == .success, "no surprise removal")
            let elapsed = ContinuousClock.now - started
            #expect(waitUntil(timeout: 20) { device.state == .stopped })
            #expect(device.removalReason?.code == .deviceRemoved)
            #expect(waitUntil(timeout: 20) { !FileManager.default.fileExists(atPath: pci.sysPath) }, "the kernel still holds the device")
            #expect(throws: UIOError.self) { try registers.read(UInt32.self, at: Edu.identification) }
            print("VFIO: device_del -> surprise removal in \(elapsed), \(interrupt.statistics.interrupts) interrupts before")
        }

        /// An interrupt whose ISR acknowledges whatever edu raised, and recognizes it if anything was.
        static func acknowledging(_ registers: MappedRegion) -> InterruptConfig<Int> {
            InterruptConfig<Int>(isr: { _, _ in
                let status = (try? registers.read(UInt32.self, at: Edu.interruptStatus)) ?? 0
                try? registers.write(status, at: Edu.acknowledgeInterrupt)
                return status != 0
            })
        }

        /// Writes `text` to a sysfs attribute (never through a temporary file).
        static func writeSysfs(_ path: String, _ text: String) {
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else { return }
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }

        /// e1000e through VFIO: one interrupt object per MSI-X vector, each ISR counting what it got.
        final class NICRig: Sendable {
            let handle: VFIOHandle
            let device: Device
            let registers: MappedRegion
            let interrupts: [Interrupt<Int>]
            let handled: [DispatchSemaphore]
            /// Calls of each ISR with another vector's number: must stay 0.
            let crossed = Counter()

            final class Counter: Sendable {
                let value = Atomic<Int>(0)
            }

            init() throws {
                let pci = try Guest.vfioDevice(vendor: E1000E.vendor, device: E1000E.device)
                handle = try pci.openVFIO()
                registers = try handle.mapRegion(0)
                device = Device(resources: handle)
                let crossed = crossed
                let semaphores = (0..<E1000E.msixVectors).map { _ in DispatchSemaphore(value: 0) }
                handled = semaphores
                var made: [Interrupt<Int>] = []
                for vector in 0..<E1000E.msixVectors {
                    made.append(try Interrupt(parent: device, config: InterruptConfig<Int>(
                        isr: { interrupt, messageID in
                            if Int(messageID) != vector { crossed.value.add(1, ordering: .relaxed) }
                            interrupt.withLockedContext { $0 += 1 }
                            semaphores[vector].signal()
                            return true  // EIAC clears the cause with the message
                        }), context: 0))
                }
                interrupts = made
            }

            /// Routes each queue cause to its own vector, auto-cleared by the message.
            func route() throws {
                try registers.write(UInt32.max, at: E1000E.interruptMaskClear)
                _ = try registers.read(UInt32.self, at: E1000E.interruptCauseRead)
                try registers.write(E1000E.oneCausePerVector, at: E1000E.vectorAllocation)
                try registers.write(E1000E.allVectorCauses, at: E1000E.extendedAutoClear)
            }

            /// Raises vector `vector`'s cause (IMS every time: the auto-clear clears it too).
            func raise(_ vector: Int) throws {
                let cause = E1000E.cause(forVector: vector)
                try registers.write(cause, at: E1000E.interruptMaskSet)
                try registers.write(cause, at: E1000E.interruptCauseSet)
            }
        }

        @Test("e1000e's five MSI-X vectors as five interrupt objects: 1,000 raises per vector in parallel, each handled by its own ISR only, each object counting what the kernel counted")
        func msixVectors() throws {
            let rig = try NICRig()
            #expect(rig.handle.interruptMode == .msix)
            #expect(rig.handle.interruptVectorCount == E1000E.msixVectors)
            try rig.device.start()
            defer { rig.device.stop() }
            try rig.route()
            for (vector, interrupt) in rig.interrupts.enumerated() {
                #expect(interrupt.vector == vector)
                #expect(interrupt.info.messageSignaled && interrupt.info.messageNumber == UInt32(vector))
            }
            let failures = Atomic<Int>(0)
            let rounds = 1_000
            DispatchQueue.concurrentPerform(iterations: E1000E.msixVectors) { vector in
                for _ in 0..<rounds {
                    do {
                        try rig.raise(vector)
                    } catch {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                    if rig.handled[vector].wait(timeout: .now() + 5) == .timedOut {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(rig.crossed.value.load(ordering: .relaxed) == 0)
            // Each raise rewrites the shared mask and cause registers, and the device then sends a
            // message for every cause still pending (not yet auto-cleared) on every vector: a
            // vector gets more messages than its own raises. What the kernel counted on each
            // vector's interrupt is what its interrupt object must have counted.
            for (vector, interrupt) in rig.interrupts.enumerated() {
                let irq = try #require(interrupt.info.vector, "vector \(vector) is not in /proc/interrupts")
                // The ISR thread counts after the ISR returns, and late messages may still come:
                // wait for the two counts to meet.
                let met = waitUntil(timeout: 5) {
                    let statistics = interrupt.statistics
                    return (try? Self.kernelCounts()[irq]) == statistics.interrupts && interrupt.synchronize { $0 } == Int(statistics.wakeUps)
                }
                let statistics = interrupt.statistics
                let kernel = (try? Self.kernelCounts()[irq]) ?? nil
                #expect(met, "vector \(vector) (IRQ \(irq)): \(statistics), ISR calls \(interrupt.synchronize { $0 }), the kernel counted \(kernel ?? 0)")
                #expect(statistics.wakeUps >= UInt64(rounds), "vector \(vector): \(statistics)")
                print("VFIO MSI-X vector \(vector): \(statistics.wakeUps) ISR calls for \(rounds) raises, \(statistics.interrupts) messages (the kernel counted \(kernel ?? 0))")
            }
        }

        /// Each interrupt's count in `/proc/interrupts`, summed over the CPUs.
        static func kernelCounts() throws -> [Int: UInt64] {
            let table = try String(contentsOfFile: "/proc/interrupts", encoding: .utf8)
            var counts: [Int: UInt64] = [:]
            for line in table.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let first = words.first, first.hasSuffix(":"), let irq = Int(first.dropLast()) else { continue }
                counts[irq] = words.dropFirst().prefix { UInt64($0) != nil }.reduce(0) { $0 + UInt64($1)! }
            }
            return counts
        }

        @Test("reset: e1000e, which the kernel can reset alone, resets through VFIO and works after; edu, which it cannot, says so")
        func reset() throws {
            let nic = try Guest.vfioDevice(vendor: E1000E.vendor, device: E1000E.device).openVFIO()
            defer { nic.close() }
            #expect(nic.canReset)
            try nic.reset()
            let registers = try nic.mapRegion(0)
            try registers.write(E1000E.oneCausePerVector, at: E1000E.vectorAllocation)
            #expect(try registers.read(UInt32.self, at: E1000E.vectorAllocation) == E1000E.oneCausePerVector, "the registers answer after the reset")
            let edu = try Guest.vfioDevice(vendor: Edu.vendor, device: Edu.device).openVFIO()
            defer { edu.close() }
            #expect(!edu.canReset)
            let error = #expect(throws: UIOError.self) { try edu.reset() }
            #expect(error?.code == .notSupported)
        }

        @Test("e1000e's I/O-port BAR: mapRegion refuses it, fileRegion reaches it; a register read through its IOADDR/IODATA window equals the same register read through the mapped BAR0")
        func ioPortBAR() throws {
            let nic = try Guest.vfioDevice(vendor: E1000E.vendor, device: E1000E.device).openVFIO()
            defer { nic.close() }
            #expect(throws: UIOError.self) { try nic.mapRegion(2) }
            let ports = try nic.fileRegion(2)
            let registers = try nic.mapRegion(0)
            let status = 0x08  // the device status register
            try ports.write(UInt32(status), at: 0)  // IOADDR
            let throughPorts = try ports.read(UInt32.self, at: 4)  // IODATA
            #expect(throughPorts == (try registers.read(UInt32.self, at: status)))
            print("VFIO: e1000e STATUS 0x\(String(throughPorts, radix: 16)) through the I/O-port BAR and the mapped BAR0")
        }

        @Test("an MSI-X vector disabled while its cause is raised runs no ISR; the message waits in the device's pending bits and comes once enabled")
        func disableMSIX() throws {
            let rig = try NICRig()
            try rig.device.start()
            defer { rig.device.stop() }
            try rig.route()
            let vector = 2
            try rig.raise(vector)
            #expect(rig.handled[vector].wait(timeout: .now() + 5) == .success)
            try rig.interrupts[vector].disable()
            let calls = rig.interrupts[vector].synchronize { $0 }  // after every message sent before
            let held = rig.interrupts[vector].statistics.held
            try rig.raise(vector)
            try rig.raise(0)
            #expect(rig.handled[0].wait(timeout: .now() + 5) == .success, "the other vectors keep working")
            Thread.sleep(forTimeInterval: 0.3)
            #expect(rig.interrupts[vector].synchronize { $0 } == calls, "an ISR ran after disable() returned")
            // Nothing reached the eventfd: the kernel masked the vector; the message waits in the device.
            #expect(rig.interrupts[vector].statistics.held == held, "the message reached the eventfd while the vector was detached")
            try rig.interrupts[vector].enable()
            let delivered = waitUntil(timeout: 2) { rig.interrupts[vector].synchronize { $0 } > calls }
            print("VFIO MSI-X: the message raised while vector \(vector) was disabled \(delivered ? "came after enable()" : "was lost"): \(rig.interrupts[vector].statistics)")
            #expect(delivered)
        }
    }
}
