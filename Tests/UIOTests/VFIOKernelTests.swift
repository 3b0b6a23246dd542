import SystemPackage
import Testing
import UIOPlatform
@testable import UIO

#if canImport(Glibc)
import Glibc
#endif

/// A VFIO kernel answered through the system-call seam: every fd it hands out is a real eventfd
/// (so closing it is real), and it records each `VFIO_DEVICE_SET_IRQS` and DMA mapping.
final class FakeVFIOKernel: Sendable {
    struct IRQSet: Equatable, CustomStringConvertible {
        var flags: UInt32, index: UInt32, start: UInt32, count: UInt32, fds: [Int32]
        var description: String { "SET_IRQS(flags 0x\(String(flags, radix: 16)), index \(index), \(start)+\(count), fds \(fds))" }
    }

    let viable: Bool
    let msixVectors: UInt32
    let groupMembers: [String: String?]
    let irqSets = Locked<[IRQSet]>([])
    let mappings = Locked<[(iova: UInt64, length: UInt64)]>([])
    let unmappings = Locked<[(iova: UInt64, length: UInt64)]>([])
    let mapFailure = Locked<Errno?>(nil)
    /// Bytes each unmap says it unmapped: all of them unless set.
    let unmapShortBy = Locked<UInt64>(0)
    /// Vectors the kernel can enable at most (vfio_msi_enable's positive answer).
    let vectorsAvailable = Locked<UInt32>(.max)
    /// What BAR 4 (an I/O-port BAR: readable, writable, not mappable) holds, by offset.
    let portBAR = Locked<[Int64: UInt8]>([:])
    static let portBARBase: Int64 = 4 << 40

    init(viable: Bool = true, msixVectors: UInt32 = 5, groupMembers: [String: String?] = [:]) {
        self.viable = viable
        self.msixVectors = msixVectors
        self.groupMembers = groupMembers
    }

    /// The kernel's fds: eventfds, which close like any file.
    private static func newFD() -> Int32 { (try? SystemCalls.live.eventfdCreate().get()) ?? -1 }

    var system: SystemCalls {
        var system = SystemCalls.live
        system.open = { path, flags in path.hasPrefix("/dev/vfio/") ? .success(Self.newFD()) : SystemCalls.live.open(path, flags) }
        system.pathStatus = { path in path.hasPrefix("/dev/vfio/noiommu") ? .failure(.noSuchFileOrDirectory) : SystemCalls.live.pathStatus(path) }
        system.listDirectory = { [groupMembers] path in
            path.hasPrefix("/sys/kernel/iommu_groups/") ? .success(Array(groupMembers.keys)) : SystemCalls.live.listDirectory(path)
        }
        system.readLink = { [groupMembers] path in
            for (slot, driver) in groupMembers where path.hasSuffix("/\(slot)/driver") {
                return driver.map { .success("../../../../bus/pci/drivers/\($0)") } ?? .failure(.noSuchFileOrDirectory)
            }
            return SystemCalls.live.readLink(path)
        }
        system.pread = { [portBAR] fd, buffer, offset in
            guard offset >= Self.portBARBase else { return SystemCalls.live.pread(fd, buffer, offset) }
            portBAR.withLock { bytes in for index in buffer.indices { buffer[index] = bytes[offset - Self.portBARBase + Int64(index)] ?? 0 } }
            return .success(buffer.count)
        }
        system.pwrite = { [portBAR] fd, buffer, offset in
            guard offset >= Self.portBARBase else { return SystemCalls.live.pwrite(fd, buffer, offset) }
            portBAR.withLock { bytes in for index in buffer.indices { bytes[offset - Self.portBARBase + Int64(index)] = buffer[index] } }
            return .success(buffer.count)
        }
        system.ioctlValue = { _, request, value in
            switch request {
            case VFIORequest.getAPIVersion: .success(0)
            case VFIORequest.checkExtension: .success(value == VFIOConstant.type1v2IOMMU ? 1 : 0)
            default: .success(0)
            }
        }
        system.ioctl = { [self] _, request, argument in
            guard let argument else { return .failure(.invalidArgument) }
            func get32(_ offset: Int) -> UInt32 { argument.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
            func get64(_ offset: Int) -> UInt64 { argument.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
            func set32(_ value: UInt32, _ offset: Int) { argument.storeBytes(of: value, toByteOffset: offset, as: UInt32.self) }
            func set64(_ value: UInt64, _ offset: Int) { argument.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
            switch request {
            case VFIORequest.groupGetStatus:
                set32(viable ? VFIOConstant.groupViable : 0, 4)
            case VFIORequest.groupSetContainer:
                break
            case VFIORequest.groupGetDeviceFD:
                return .success(Self.newFD())
            case VFIORequest.iommuGetInfo:
                set32(1, 4)
                set64(0x4020_1000, 8)
            case VFIORequest.deviceGetInfo:
                set32(0x2, 4)
                set32(9, 8)
                set32(5, 12)
            case VFIORequest.deviceGetIRQInfo:
                let index = get32(8)
                set32(index == 0 ? 0x7 : 0x9, 4)
                set32(index == 2 ? msixVectors : 1, 12)
            case VFIORequest.deviceGetRegionInfo:
                let index = get32(8)
                set32(index == 7 || index == 4 ? 0x3 : 0x7, 4)
                set64(index == 7 ? 0x100 : index == 4 ? 0x20 : 0x4000, 16)
                set64(UInt64(index) << 40, 24)
            case VFIORequest.deviceSetIRQs:
                let count = get32(16)
                let flags = get32(4)
                let available = vectorsAvailable.withLock { $0 }
                if get32(8) == 2 && get32(12) == 0 && count > available { return .success(Int32(available)) }
                let fds = flags & VFIOConstant.dataEventfd != 0
                    ? (0..<Int(count)).map { argument.loadUnaligned(fromByteOffset: 20 + 4 * $0, as: Int32.self) } : []
                irqSets.withLock { $0.append(IRQSet(flags: flags, index: get32(8), start: get32(12), count: count, fds: fds)) }
            case VFIORequest.iommuMapDMA:
                if let errno = mapFailure.withLock({ $0 }) { return .failure(errno) }
                mappings.withLock { $0.append((get64(16), get64(24))) }
            case VFIORequest.iommuUnmapDMA:
                unmappings.withLock { $0.append((get64(8), get64(16))) }
                set64(get64(16) - unmapShortBy.withLock { $0 }, 16)
            default:
                return .failure(.inappropriateIOCTLForDevice)
            }
            return .success(0)
        }
        return system
    }

    /// A device of group 7 on vfio-pci.
    static let device = PCIDevice(
        identity: PCIIdentity(vendor: 0x8086, device: 0x10d3, subsystemVendor: nil, subsystemDevice: nil, classCode: 0x020000, slot: "0000:00:11.0"),
        sysPath: "/sys/devices/pci0000:00/0000:00:11.0", driver: "vfio-pci", iommuGroup: 7, uioNumbers: [])
}

@Suite("VFIO through a simulated kernel", .serialized)
struct VFIOKernelTests {
    static let trigger = VFIOConstant.dataEventfd | VFIOConstant.actionTrigger

    @Test("a group that is not viable is refused, naming each device in it and its driver")
    func notViable() {
        let kernel = FakeVFIOKernel(viable: false, groupMembers: ["0000:00:1f.2": "ahci", "0000:00:1f.3": nil])
        let error = #expect(throws: UIOError.self) { try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system) }
        #expect(error?.code == .groupNotViable)
        #expect(error?.reason.contains("0000:00:1f.2 (ahci)") == true && error?.reason.contains("0000:00:1f.3 (no driver)") == true, "\(String(describing: error))")
    }

    @Test("a device not on vfio-pci is refused, with the bind command")
    func notOnVFIO() {
        let device = PCIDevice(identity: FakeVFIOKernel.device.identity, sysPath: FakeVFIOKernel.device.sysPath, driver: "e1000e",
                               iommuGroup: 7, uioNumbers: [])
        let error = #expect(throws: UIOError.self) { try VFIOHandle(device, interrupts: .automatic, system: FakeVFIOKernel().system) }
        #expect(error?.advice?.contains("uioctl bind --driver vfio-pci 0000:00:11.0") == true)
    }

    @Test("MSI-X: the first vector connected enables the whole index, later ones attach alone, disable detaches, the last close disables the index")
    func msixStateMachine() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        defer { handle.close() }
        #expect(handle.interruptMode == .msix && handle.interruptVectorCount == 5)
        #expect(handle.interruptsNeedBusMastering)
        let request = try #require(kernel.irqSets.withLock { $0.first })
        #expect(request.index == VFIOInterruptIndex.request.rawValue && request.count == 1, "the removal request is watched: \(request)")
        kernel.irqSets.withLock { $0.removeAll() }

        let second = try handle.interruptSource(vector: 2)
        let enabled = try #require(kernel.irqSets.withLock { $0.last })
        #expect(enabled.flags == Self.trigger && enabled.index == 2 && enabled.start == 0 && enabled.count == 5)
        #expect(enabled.fds.enumerated().allSatisfy { $0.offset == 2 ? $0.element >= 0 : $0.element == -1 }, "\(enabled)")

        let first = try handle.interruptSource(vector: 0)
        #expect(kernel.irqSets.withLock { $0.last }.map { ($0.start, $0.count, $0.fds.count) } ?? (9, 9, 9) == (0, 1, 1))
        #expect(throws: UIOError.self) { try handle.interruptSource(vector: 0) }
        #expect(throws: UIOError.self) { try handle.interruptSource(vector: 5) }

        try second.disable()
        #expect(kernel.irqSets.withLock { $0.last } == .init(flags: Self.trigger, index: 2, start: 2, count: 1, fds: [-1]))
        try second.disable()  // already detached: nothing more
        let afterDisable = kernel.irqSets.withLock { $0.count }
        try second.enable()
        #expect(kernel.irqSets.withLock { $0.count } == afterDisable + 1)
        #expect(kernel.irqSets.withLock { $0.last }.map { ($0.start, $0.count, $0.fds.first ?? -1 >= 0) } ?? (9, 9, false) == (2, 1, true))

        first.close()
        #expect(kernel.irqSets.withLock { $0.last } == .init(flags: Self.trigger, index: 2, start: 0, count: 1, fds: [-1]))
        second.close()
        #expect(kernel.irqSets.withLock { $0.last } == .init(flags: VFIOConstant.dataNone | VFIOConstant.actionTrigger, index: 2, start: 0, count: 0, fds: []))
    }

    @Test("INTx: masked and unmasked by VFIO, re-armed by the unmask")
    func intx() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .intx, system: kernel.system)
        defer { handle.close() }
        #expect(handle.interruptVectorCount == 1 && !handle.interruptsNeedBusMastering)
        let source = try handle.interruptSource(vector: 0)
        defer { source.close() }
        #expect(source.reArmMethod == .vfioUnmask && source.redeliversUnhandledInterrupts)
        try source.rearm()
        #expect(kernel.irqSets.withLock { $0.last } == .init(flags: VFIOConstant.dataNone | VFIOConstant.actionUnmask, index: 0, start: 0, count: 1, fds: []))
        try source.disable()
        #expect(kernel.irqSets.withLock { $0.last } == .init(flags: VFIOConstant.dataNone | VFIOConstant.actionMask, index: 0, start: 0, count: 1, fds: []))
    }

    @Test("DMA memory: mapped page-rounded at the lowest IOVA from 64 KiB, unmapped exactly when freed; a second device handle is busy")
    func dma() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        defer { handle.close() }
        #expect(throws: UIOError.self) { try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system) }
        do {
            let buffer = try handle.allocateDMAMemory(length: 5000, alignment: 64, addressLimit: (1 << 28) - 1)
            #expect(buffer.deviceAddress == 0x10000 && buffer.length == 5000)
            #expect(kernel.mappings.withLock { $0.map(\.length) } == [8192])
            try buffer.write(UInt32(0xfeed), at: 4996)
            let next = try handle.allocateDMAMemory(length: 64, alignment: 0x10000, addressLimit: (1 << 28) - 1)
            #expect(next.deviceAddress == 0x20000)
        }
        #expect(kernel.unmappings.withLock { Set($0.map(\.iova)) } == [0x10000, 0x20000])
        #expect(kernel.unmappings.withLock { $0.first { $0.iova == 0x10000 }?.length } == 8192)
        let again = try handle.allocateDMAMemory(length: 4096, alignment: 4096, addressLimit: (1 << 28) - 1)
        #expect(again.deviceAddress == 0x10000, "a freed address is given again")
    }

    @Test("a mapping past RLIMIT_MEMLOCK is dmaMemoryUnavailable naming the limit and how to raise it; too many mappings, the entry limit")
    func mapFailures() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        defer { handle.close() }
        kernel.mapFailure.withLock { $0 = .noMemory }
        let memlock = #expect(throws: UIOError.self) { try handle.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max) }
        #expect(memlock?.code == .dmaMemoryUnavailable && memlock?.reason.contains("RLIMIT_MEMLOCK") == true)
        #expect(memlock?.advice?.contains("LimitMEMLOCK=") == true)
        kernel.mapFailure.withLock { $0 = .noSpace }
        let entries = #expect(throws: UIOError.self) { try handle.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max) }
        #expect(entries?.code == .dmaMemoryUnavailable && entries?.reason.contains("dma_entry_limit") == true)
        kernel.mapFailure.withLock { $0 = nil }
        #expect(try handle.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: .max).deviceAddress == 0x10000,
                "the addresses of failed mappings were given back")
        let beyond = #expect(throws: UIOError.self) { try handle.allocateDMAMemory(length: 4096, alignment: 64, addressLimit: 0xFFFF) }
        #expect(beyond?.code == .addressBeyondDeviceReach)
    }

    @Test("an unmap the kernel does not finish keeps the address reserved: it is never given to another buffer")
    func unmapFailureKeepsTheAddress() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        defer { handle.close() }
        kernel.unmapShortBy.withLock { $0 = 4096 }
        do { _ = try handle.allocateDMAMemory(length: 8192, alignment: 4096, addressLimit: .max) }
        #expect(kernel.unmappings.withLock { $0.map(\.iova) } == [0x10000])
        kernel.unmapShortBy.withLock { $0 = 0 }
        let next = try handle.allocateDMAMemory(length: 4096, alignment: 4096, addressLimit: .max)
        #expect(next.deviceAddress == 0x12000, "0x10000 may still be reachable by the device")
    }

    @Test("a kernel short of vectors enables as many as it can: those connect, a vector past them is refused saying so")
    func fewerVectors() throws {
        let kernel = FakeVFIOKernel()
        kernel.vectorsAvailable.withLock { $0 = 2 }
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        defer { handle.close() }
        let zero = try handle.interruptSource(vector: 0)
        defer { zero.close() }
        #expect(kernel.irqSets.withLock { $0.last.map { ($0.start, $0.count) } } ?? (9, 9) == (0, 2))
        let one = try handle.interruptSource(vector: 1)
        defer { one.close() }
        let error = #expect(throws: UIOError.self) { try handle.interruptSource(vector: 3) }
        #expect(error?.code == .notSupported && error?.reason.contains("enabled 2 of the device's 5") == true, "\(String(describing: error))")
    }

    @Test("a BAR vfio-pci will not map (an I/O-port BAR) is refused by mapRegion with advice, and reached through the device file: little-endian, bounds- and alignment-checked, closed with the handle")
    func fileRegion() throws {
        let kernel = FakeVFIOKernel()
        let handle = try VFIOHandle(FakeVFIOKernel.device, interrupts: .automatic, system: kernel.system)
        let refused = #expect(throws: UIOError.self) { try handle.mapRegion(4) }
        #expect(refused?.code == .noSuchRegion && refused?.advice?.contains("fileRegion(4)") == true)
        let port = try handle.fileRegion(4)
        #expect(port.size == 0x20 && port.isWritable)
        try port.write(UInt32(0x1234_5678), at: 8)
        #expect(kernel.portBAR.withLock { $0[8] } == 0x78, "little-endian")
        #expect(try port.read(UInt16.self, at: 10) == 0x1234)
        #expect(throws: UIOError.self) { try port.read(UInt32.self, at: 0x1e) }
        #expect(throws: UIOError.self) { try port.read(UInt32.self, at: 2) }
        handle.close()
        let closed = #expect(throws: UIOError.self) { try port.read(UInt8.self, at: 0) }
        #expect(closed?.code == .closed)
    }
}
