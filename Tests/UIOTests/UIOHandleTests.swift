import Foundation
import SystemPackage
import Testing
@_spi(Simulation) import UIO

/// Handles opened on ordinary files standing in for `/dev/uioN`: `flock` and `mmap` are real.
@Suite("Open and claim")
struct UIOHandleTests {
    /// A file of `pages` pages whose byte at K × page + 0x10 is K + 1 (so a map's page is visible).
    static func standIn(pages: Int = 3) throws -> String {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var bytes = [UInt8](repeating: 0, count: pages * page)
        for k in 0..<pages { bytes[k * page + 0x10] = UInt8(k + 1) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("uio-standin-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func device(at path: String, maps: [MemoryMap] = [], parent: ParentDevice? = nil) -> UIODevice {
        UIODevice(number: 9, name: "stand-in", version: "0", eventCount: 0, maps: maps, portRegions: [],
                  devicePath: path, sysPath: "/nonexistent/uio9", parent: parent)
    }

    @Test("close releases the claim even while a mapping keeps the file open")
    func closeReleasesClaimDespiteMapping() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let device = Self.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 64, offset: 0)])
        let first = try UIOHandle(device: device, exclusive: true, system: .live)
        let region = try first.mapRegion(0)
        first.close()
        let second = try UIOHandle(device: device, exclusive: true, system: .live)
        second.close()
        #expect(try region.read(UInt8.self, at: 0x10) == 1)
    }

    @Test("a second exclusive open is refused with deviceBusy until the first closes")
    func exclusiveClaim() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let device = Self.device(at: path)
        let first = try UIOHandle(device: device, exclusive: true, system: .live)
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: device, exclusive: true, system: .live) }
        #expect(error.code == .deviceBusy)
        #expect(error.description.contains("fuser"))
        let watcher = try UIOHandle(device: device, exclusive: false, system: .live)
        first.close()
        first.close()
        #expect(first.isClosed)
        let second = try UIOHandle(device: device, exclusive: true, system: .live)
        second.close()
        watcher.close()
    }

    @Test("a node gone since discovery is deviceRemoved; EACCES is permissionDenied with advice")
    func openErrors() throws {
        let gone = try #require(throws: UIOError.self) {
            try UIOHandle(device: Self.device(at: "/nonexistent/dev/uio9"), exclusive: true, system: .live)
        }
        #expect(gone.code == .deviceRemoved)
        var denied = SystemCalls.live
        denied.open = { _, _ in .failure(.permissionDenied) }
        let error = try #require(throws: UIOError.self) {
            try UIOHandle(device: Self.device(at: "/dev/uio9"), exclusive: true, system: denied)
        }
        #expect(error.code == .permissionDenied)
        #expect(error.description.contains("udev/"))
    }

    @Test("flock interrupted by a signal is retried; another flock failure is reported")
    func flockErrors() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var interrupted = SystemCalls.live
        let calls = Counter()
        interrupted.flock = { fd, operation in
            guard operation & LOCK_EX != 0 else { return SystemCalls.live.flock(fd, operation) }
            return calls.increment() < 2 ? .failure(.interrupted) : SystemCalls.live.flock(fd, operation)
        }
        try UIOHandle(device: Self.device(at: path), exclusive: true, system: interrupted).close()
        #expect(calls.value == 3)
        var failing = SystemCalls.live
        failing.flock = { _, _ in .failure(.noLocks) }
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: failing) }
        #expect(error.code == .systemCall)
        #expect(error.errno == .noLocks)
    }

    @Test("map K is mmapped at K pages, then the map's offset into that page")
    func mapOffsets() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let maps = [
            MemoryMap(index: 0, name: "bar0", address: 0xfea0_0000, size: 0x100, offset: 0x10),
            MemoryMap(index: 1, name: "bar1", address: 0xfeb0_0000, size: 0x40, offset: 0x10),
        ]
        let handle = try UIOHandle(device: Self.device(at: path, maps: maps), exclusive: true, system: .live)
        let map0 = try handle.mapRegion(0)
        let map1 = try handle.mapRegion(1)
        #expect(map0.size == 0x100)
        #expect(try map0.read(UInt8.self, at: 0) == 1)
        #expect(try map1.read(UInt8.self, at: 0) == 2)
        #expect(throws: UIOError.self) { try map1.read(UInt8.self, at: 0x40) }
        handle.close()
        #expect(try map1.read(UInt8.self, at: 0) == 2, "a region outlives its handle")
    }

    @Test("a map index the device lacks, or a map after close, is refused")
    func mapErrors() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try UIOHandle(device: Self.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 16, offset: 0)]),
                                   exclusive: true, system: .live)
        #expect(throws: UIOError.self) { try handle.mapRegion(1) }
        #expect((try? handle.mapRegion(1)) == nil)
        handle.close()
        let error = try #require(throws: UIOError.self) { try handle.mapRegion(0) }
        #expect(error.code == .closed)
    }

    @Test("config space and PCI resources need a PCI parent")
    func needsPCI() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let platform = ParentDevice(subsystem: "platform", sysName: "9010000.pl031", sysPath: "/nonexistent/9010000.pl031",
                                    driver: "uio_pdrv_genirq", irq: nil, pci: nil)
        let handle = try UIOHandle(device: Self.device(at: path, parent: platform), exclusive: true, system: .live)
        defer { handle.close() }
        #expect((try? handle.configSpace()) == nil)
        let error = try #require(throws: UIOError.self) { try handle.mapPCIResource(0) }
        #expect(error.code == .notPCIDevice)
        #expect(error.description.contains("platform"))
    }

    @Test("a PCI BAR maps through the parent's resourceN file; a missing BAR is noSuchRegion")
    func pciResource() throws {
        let path = try Self.standIn()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let parentDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pci-standin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: parentDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parentDirectory) }
        try FileManager.default.copyItem(atPath: path, toPath: parentDirectory + "/resource0")
        let parent = ParentDevice(subsystem: "pci", sysName: "0000:00:04.0", sysPath: parentDirectory, driver: "uio_pci_generic", irq: 11,
                                  pci: PCIIdentity(vendor: 0x1234, device: 0x11e8, subsystemVendor: nil, subsystemDevice: nil,
                                                   classCode: 0xff00, slot: "0000:00:04.0"))
        let handle = try UIOHandle(device: Self.device(at: path, parent: parent), exclusive: true, system: .live)
        defer { handle.close() }
        let bar0 = try handle.mapPCIResource(0)
        #expect(try bar0.read(UInt8.self, at: 0x10) == 1)
        let missing = try #require(throws: UIOError.self) { try handle.mapPCIResource(2) }
        #expect(missing.code == .noSuchRegion)
        let invalid = try #require(throws: UIOError.self) { try handle.mapPCIResource(6) }
        #expect(invalid.code == .noSuchRegion)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    /// Returns the value before the increment.
    func increment() -> Int { lock.withLock { defer { count += 1 }; return count } }
    var value: Int { lock.withLock { count } }
}
