import Dispatch
import Foundation
import Synchronization
import Testing
import TestSupport
import QEMUDevices
import UIO
import UIODriver
import UIOPlatform

extension GuestSuites {
    /// DMA through common buffers, by QEMU's edu DMA engine, with completion through the interrupt
    /// object on a real kernel (huge pages reserved with run.sh --hugepages).
    @Suite("Guest: DMA with edu's engine")
    struct DMAGuestTests {
        init() throws { try #require(Guest.isActive, "not in the guest") }

        /// An edu device with a 28-bit DMA enabler (edu's own width), two common buffers, and an
        /// interrupt whose ISR acknowledges the DMA completion and whose DPC signals it.
        struct Rig {
            let uio: UIODevice
            let device: Device
            let registers: MappedRegion
            let enabler: DMAEnabler
            let source: CommonBuffer
            let destination: CommonBuffer
            let interrupt: Interrupt<Int>
            let completed = DispatchSemaphore(value: 0)

            init(_ uio: UIODevice, removal: (@Sendable (Device) -> Void)? = nil) throws {
                self.uio = uio
                let handle = try uio.open()
                let registers = try handle.mapRegion(0)
                let device = Device(resources: handle, callbacks: DeviceCallbacks(surpriseRemoval: { device, _ in removal?(device) }))
                enabler = try DMAEnabler(device: device, config: DMAEnablerConfig(
                    profile: .packet, maximumLength: 4096, addressWidthOverride: Edu.defaultDMAAddressWidth))
                source = try enabler.createCommonBuffer(length: 4096)
                destination = try enabler.createCommonBuffer(length: 4096)
                let completed = completed
                interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
                    isr: { interrupt, _ in
                        let status = (try? registers.read(UInt32.self, at: Edu.interruptStatus)) ?? 0
                        guard status != 0 else { return false }
                        try? registers.write(status, at: Edu.acknowledgeInterrupt)
                        if status & Edu.Interrupt.dmaDone != 0 {
                            interrupt.withLockedContext { $0 += 1 }
                            interrupt.queueDPC()
                        }
                        return true
                    },
                    dpc: { _, _ in completed.signal() }), context: 0)
                self.device = device
                self.registers = registers
            }

            /// Starts a transfer between `buffer` at `offset` and the device's buffer at
            /// `deviceOffset`; does not wait.
            func start(_ buffer: CommonBuffer, offset: Int, deviceOffset: Int, count: Int, toRAM: Bool) throws {
                let writes = try #require(Edu.dmaTransfer(ram: try buffer.memory.deviceAddress(at: offset), deviceOffset: deviceOffset,
                                                          count: count, toRAM: toRAM))
                for (offset, value) in writes { try registers.write(value, at: offset) }
            }

            /// A transfer, waited for through the interrupt object; whether its completion came.
            func transfer(_ buffer: CommonBuffer, offset: Int, deviceOffset: Int, count: Int, toRAM: Bool) throws -> Bool {
                try start(buffer, offset: offset, deviceOffset: deviceOffset, count: count, toRAM: toRAM)
                return completed.wait(timeout: .now() + 10) == .success
            }
        }

        /// Round trips of the copy test: 24 in CI (each ~0.2 s under emulation); set
        /// SWIFT_UIO_DMA_ROUNDS for a longer run.
        static let rounds = ProcessInfo.processInfo.environment["SWIFT_UIO_DMA_ROUNDS"].flatMap(Int.init) ?? 24

        @Test("RAM → device → another buffer, round trips of random length and offset (fixed seed; 24 in CI): every byte checked, every completion through the ISR and DPC, the buffers within edu's 28 bits")
        func copiesThroughTheDevice() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let rig = try Rig(uio)
            #expect(rig.destination.alignedLogicalAddress + 4095 <= rig.enabler.config.highestAddress)
            print("DMA: common buffers at physical 0x\(String(rig.source.alignedLogicalAddress, radix: 16)) and 0x\(String(rig.destination.alignedLogicalAddress, radix: 16))")
            try rig.device.start()
            defer { rig.device.stop() }
            var generator = SplitMix64(seed: 0x5eed_d1a5)
            var corrupt = 0
            var bytes = 0
            let started = ContinuousClock.now
            for round in 0..<Self.rounds {
                let count = Int.random(in: 1...2048, using: &generator)
                let offset = Int.random(in: 0...(4096 - count), using: &generator)
                let deviceOffset = Int.random(in: 0...(Edu.dmaBufferUsableSize - count), using: &generator)
                let landing = Int.random(in: 0...(4096 - count), using: &generator)
                let pattern = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try rig.source.copyBytes(pattern, to: offset)
                try rig.destination.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: ~UInt8(round & 0xff)) }
                try #require(try rig.transfer(rig.source, offset: offset, deviceOffset: deviceOffset, count: count, toRAM: false), "round \(round): no completion")
                try #require(try rig.transfer(rig.destination, offset: landing, deviceOffset: deviceOffset, count: count, toRAM: true), "round \(round): no completion")
                #expect(try !rig.enabler.busMasterWasLost())
                let landed = try rig.destination.bytes(at: landing, count: count)
                if landed != pattern { corrupt += 1 }
                // Nothing around the landing zone was touched.
                let before = try rig.destination.bytes(at: 0, count: landing)
                let after = try rig.destination.bytes(at: landing + count, count: 4096 - landing - count)
                #expect((before + after).allSatisfy { $0 == ~UInt8(round & 0xff) }, "round \(round): the device wrote outside the transfer")
                bytes += count
            }
            let elapsed = ContinuousClock.now - started
            #expect(corrupt == 0)
            #expect(rig.interrupt.synchronize { $0 } == 2 * Self.rounds)
            print("DMA: \(Self.rounds) round trips (\(2 * Self.rounds) transfers, \(bytes) bytes each way) in \(elapsed), \(corrupt) corrupt")
        }

        @Test("an enabler narrower than where the huge pages lie refuses the buffer before the device sees it: STATUS_INSUFFICIENT_RESOURCES naming the addresses")
        func beyondTheDevicesReach() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let handle = try uio.open()
            let device = Device(resources: handle)
            defer { device.stop() }
            // 21 bits: below 2 MiB, where no huge page lies (the kernel keeps the first MiB), so
            // every page of the pool is tried and refused.
            let width = 21
            let narrow = try DMAEnabler(device: device, config: DMAEnablerConfig(profile: .packet, maximumLength: 4096, addressWidthOverride: width))
            /// `HugePages_Free` in /proc/meminfo.
            func freeHugePages() throws -> Substring? {
                try String(contentsOfFile: "/proc/meminfo", encoding: .utf8).split(separator: "\n")
                    .first { $0.hasPrefix("HugePages_Free:") }?.split(separator: " ").last
            }
            let free = try #require(try freeHugePages())
            let error = try #require(throws: DriverError.self) { try narrow.createCommonBuffer(length: 64) }
            #expect(error.status == .insufficientResources)
            #expect(error.underlying?.code == .addressBeyondDeviceReach)
            #expect(try freeHugePages() == free, "every page tried went back to the pool")
            print("DMA: a \(width)-bit enabler: \(error)")
        }

        @Test("another open file's close turns Bus Master off: the completion still arrives, the data does not land, and the driver is told; after that it lands again")
        func busMasterLost() throws {
            let uio = try #require(try Guest.eduDevices().first)
            let rig = try Rig(uio)
            try rig.device.start()
            defer { rig.device.stop() }
            let pattern = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            try rig.source.copyBytes(pattern)
            try #require(try rig.transfer(rig.source, offset: 0, deviceOffset: 0, count: 256, toRAM: false))
            #expect(try !rig.enabler.busMasterWasLost())

            // A second program opening and closing the node: uio_pci_generic's release.
            let fd = open(uio.devicePath, O_RDWR)
            try #require(fd >= 0)
            close(fd)
            try rig.destination.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            try #require(try rig.transfer(rig.destination, offset: 0, deviceOffset: 0, count: 256, toRAM: true), "the completion interrupt arrives")
            #expect(try rig.destination.bytes(count: 256).allSatisfy { $0 == 0 }, "the data did not land")
            #expect(try rig.enabler.busMasterWasLost())

            try #require(try rig.transfer(rig.destination, offset: 0, deviceOffset: 0, count: 256, toRAM: true))
            #expect(try rig.destination.bytes(count: 256) == pattern, "made again, it lands")
            #expect(try !rig.enabler.busMasterWasLost())
        }

        @Test("hot-unplug with a transfer in flight: the removal callback runs with the buffers still held, and they are let go only after the way down",
              .enabled(if: ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST_HOTPLUG"] != nil, "needs scripts/guest/run.sh --hotplug"))
        func surpriseRemovalInFlight() throws {
            let monitor = try QEMUMonitor()
            let count = try Guest.eduDevices().count
            let uio = try #require(try Guest.eduDevices().last)
            let enablerOfRig = Locked<DMAEnabler?>(nil)
            let heldAtRemoval = Locked<Int?>(nil)
            let removed = DispatchSemaphore(value: 0)
            let rig = try Rig(uio, removal: { _ in
                heldAtRemoval.withLock { $0 = enablerOfRig.withLock { $0?.commonBufferCount } }
                removed.signal()
            })
            let enabler = rig.enabler
            enablerOfRig.withLock { $0 = enabler }
            try rig.device.start()
            try rig.start(rig.destination, offset: 0, deviceOffset: 0, count: 2048, toRAM: true)
            try monitor("device_del edu\(count - 1)")
            #expect(removed.wait(timeout: .now() + 20) == .success, "the removal callback ran")
            #expect(heldAtRemoval.withLock { $0 } == 2, "both buffers held while the removal callback ran")
            #expect(rig.device.waitUntilStopped(timeout: .seconds(20)))
            #expect(rig.device.removalReason?.code == .deviceRemoved)
            #expect(enabler.commonBufferCount == 0, "let go after the way down")
            // The driver's own references still reach the memory: nothing was unmapped under it.
            try rig.destination.write(UInt8(0x5a), at: 0)
            #expect(try rig.destination.read(UInt8.self, at: 0) == 0x5a)
            #expect(waitUntil(timeout: 20) { (try? Guest.eduDevices().count) == count - 1 })
            _ = try monitor.add("edu\(count - 1)", expecting: count)
        }
    }
}
