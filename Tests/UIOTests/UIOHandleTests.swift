import UIOPlatform
import Foundation
import SystemPackage
import Testing
@_spi(Simulation) import UIO

/// Handles opened on ordinary files standing in for `/dev/uioN`: `flock` and `mmap` are real.
@Suite("Open and claim")
struct UIOHandleTests {
    /// A file of `pages` pages whose byte at K × page + 0x10 is K + 1 (so a map's page is visible),
    /// standing in for `/dev/uio9`, beside a folder standing in for its sysfs directory: `dev` is
    /// `0:0`, what `stat` reports for an ordinary file.
    static func standIn(pages: Int = 3) throws -> String {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var bytes = [UInt8](repeating: 0, count: pages * page)
        for k in 0..<pages { bytes[k * page + 0x10] = UInt8(k + 1) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("uio-standin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/sys", withIntermediateDirectories: true)
        try Data("0:0\n".utf8).write(to: URL(fileURLWithPath: folder + "/sys/dev"))
        try Data("0\n".utf8).write(to: URL(fileURLWithPath: folder + "/sys/event"))
        let path = folder + "/uio9"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Deletes a stand-in and its sysfs folder.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }

    /// The stand-in's sysfs folder.
    static func sysPath(of path: String) -> String { (path as NSString).deletingLastPathComponent + "/sys" }

    static func device(at path: String, maps: [MemoryMap] = [], parent: ParentDevice? = nil) -> UIODevice {
        UIODevice(number: 9, name: "stand-in", version: "0", eventCount: 0, maps: maps, portRegions: [],
                  devicePath: path, sysPath: sysPath(of: path), parent: parent)
    }

    /// The live system calls, recording the opens and closes of fds on `node`; `stat` of the
    /// node reports the device `files.nodeDevice` says.
    static func recording(_ node: String, into files: NodeFiles) -> SystemCalls {
        var system = SystemCalls.live
        system.open = { path, flags in
            let result = SystemCalls.live.open(path, flags)
            if path == node, case .success(let fd) = result { files.opened(fd) }
            return result
        }
        system.close = { fd in
            files.closed(fd)
            return SystemCalls.live.close(fd)
        }
        system.pathStatus = { path in
            SystemCalls.live.pathStatus(path).map { status in
                var status = status
                if path == node { status.device = files.nodeDevice }
                return status
            }
        }
        return system
    }

    @Test("the claim lasts while a region or a line made from the handle lives, though the handle is closed")
    func claimOutlivesCloseWhileMapped() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let device = Self.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 0x1000, offset: 0)])
        do {
            let first = try UIOHandle(device: device, exclusive: true, system: .live)
            let region = try first.mapRegion(0)
            first.close()
            let refused = try #require(throws: UIOError.self) { try UIOHandle(device: device, exclusive: true, system: .live) }
            #expect(refused.code == .deviceBusy)
            #expect(try region.read(UInt8.self, at: 0x10) == 1)
        }
        do {
            let first = try UIOHandle(device: device, exclusive: true, system: .live)
            let line = try first.interruptLine(reArm: ReArmMethod.none)
            first.close()
            #expect(throws: UIOError.self) { try UIOHandle(device: device, exclusive: true, system: .live) }
            line.close()
        }
        try UIOHandle(device: device, exclusive: true, system: .live).close()
    }

    @Test("a refused claim never opens the device node, so it cannot clear the owner's Bus Master")
    func refusedClaimLeavesTheNodeAlone() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let files = NodeFiles()
        let system = Self.recording(path, into: files)
        let owner = try UIOHandle(device: Self.device(at: path), exclusive: true, system: system)
        #expect(files.openCount == 1)
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: system) }
        #expect(error.code == .deviceBusy)
        #expect(error.reason.contains("this process"), "the claim in the way is this process's own")
        #expect(files.openCount == 1)
        #expect(files.closedOriginals == 0)
        owner.close()
    }

    @Test("files on the node close only when the claim ends: closing a line or the handle closes duplicates")
    func nodeFilesCloseWithTheClaim() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let files = NodeFiles()
        let system = Self.recording(path, into: files)
        do {
            let handle = try UIOHandle(device: Self.device(at: path), exclusive: true, system: system)
            let line = try handle.interruptLine(reArm: ReArmMethod.none)
            #expect(files.openCount == 2, "the handle's file and the line's own (its own interrupt count)")
            line.close()
            #expect(files.closedOriginals == 0)
            handle.close()
            #expect(files.closedOriginals == 0, "the line object still holds the claim")
            withExtendedLifetime(line) {}
        }
        #expect(files.closedOriginals == 2)
    }

    @Test("a node that reaches another device than sysfs names is refused before it is opened: the kernel renumbered")
    func renumberedNodeIsRefused() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let files = NodeFiles()
        files.nodeDevice = DeviceNumber(major: 246, minor: 1)
        let error = try #require(throws: UIOError.self) {
            try UIOHandle(device: Self.device(at: path), exclusive: true, system: Self.recording(path, into: files))
        }
        #expect(error.code == .deviceRemoved)
        #expect(error.reason.contains("renumbered"))
        #expect(files.openCount == 0)
        try UIOHandle(device: Self.device(at: path), exclusive: true, system: .live).close()  // the refusal ended the claim
    }

    @Test("a line opened later is checked again: a device renumbered after the handle opened is refused")
    func lineOpenIsCheckedAgain() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let files = NodeFiles()
        let handle = try UIOHandle(device: Self.device(at: path), exclusive: true, system: Self.recording(path, into: files))
        defer { handle.close() }
        files.nodeDevice = DeviceNumber(major: 246, minor: 3)
        let error = try #require(throws: UIOError.self) { try handle.interruptLine(reArm: ReArmMethod.none) }
        #expect(error.code == .deviceRemoved)
        #expect(files.openCount == 1, "the node was not opened again")
    }

    @Test("a claim refused after the node opened (a program that locks the node itself) keeps that file open: its close would clear Bus Master")
    func refusedAfterOpenParksTheFile() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let files = NodeFiles()
        var system = Self.recording(path, into: files)
        system.flock = { fd, operation in
            files.isOriginal(fd) && operation & LOCK_EX != 0 ? .failure(.wouldBlock) : SystemCalls.live.flock(fd, operation)
        }
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: system) }
        #expect(error.code == .deviceBusy)
        #expect(error.reason.contains("locks"))
        #expect(files.openCount == 1)
        #expect(files.closedOriginals == 0)
    }

    @Test("the kernel's index of character devices must name the discovered sysfs path")
    func charIndexNamesTheDevice() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        var system = SystemCalls.live
        system.readLink = { link in
            link == "/sys/dev/char/0:0" ? .success("../../devices/platform/other/uio/uio9") : SystemCalls.live.readLink(link)
        }
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: system) }
        #expect(error.code == .deviceRemoved)
        #expect(error.reason.contains("/sys/devices/platform/other/uio/uio9 now"))
    }

    @Test("an fd that is not the node checked before the open is refused (the node was replaced in between)")
    func replacedNodeIsRefused() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        var system = SystemCalls.live
        system.fileStatus = { fd in
            SystemCalls.live.fileStatus(fd).map { FileStatus(fileSystem: $0.fileSystem, inode: $0.inode &+ 1, device: $0.device) }
        }
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: system) }
        #expect(error.code == .deviceRemoved)
        try UIOHandle(device: Self.device(at: path), exclusive: true, system: .live).close()
    }

    @Test("a second exclusive open is refused with deviceBusy until the first closes")
    func exclusiveClaim() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
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
        defer { Self.remove(path) }
        var interrupted = SystemCalls.live
        let calls = Counter()
        interrupted.flock = { fd, operation in
            guard operation & LOCK_EX != 0 else { return SystemCalls.live.flock(fd, operation) }
            return calls.increment() < 2 ? .failure(.interrupted) : SystemCalls.live.flock(fd, operation)
        }
        try UIOHandle(device: Self.device(at: path), exclusive: true, system: interrupted).close()
        #expect(calls.value == 4, "the sysfs claim: two EINTR, then taken; the node's lock: taken")
        var failing = SystemCalls.live
        failing.flock = { _, _ in .failure(.noLocks) }
        let error = try #require(throws: UIOError.self) { try UIOHandle(device: Self.device(at: path), exclusive: true, system: failing) }
        #expect(error.code == .systemCall)
        #expect(error.errno == .noLocks)
    }

    @Test("map K is mmapped at K pages, exactly `size` bytes long; the registers start `offset` into it and end at `size`")
    func mapOffsets() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        // As uio_pci_generic and uio_pdrv_genirq export a BAR or reg that starts 0x10 into a
        // page: size = PAGE_ALIGN(offset + length).
        let maps = [
            MemoryMap(index: 0, name: "bar0", address: 0xfea0_0000, size: page, offset: 0x10),
            MemoryMap(index: 1, name: "bar1", address: 0xfeb0_0000, size: page, offset: 0x10),
        ]
        let lengths = Locked<[Int]>([])
        var system = SystemCalls.live
        system.mmap = { fd, length, offset in
            lengths.withLock { $0.append(length) }
            return SystemCalls.live.mmap(fd, length, offset)
        }
        let handle = try UIOHandle(device: Self.device(at: path, maps: maps), exclusive: true, system: system)
        let map0 = try handle.mapRegion(0)
        let map1 = try handle.mapRegion(1)
        #expect(lengths.withLock { $0 } == [Int(page), Int(page)], "uio_mmap refuses a mapping longer than the map's size")
        #expect(map0.size == Int(page) - 0x10)
        #expect(try map0.read(UInt8.self, at: 0) == 1)
        #expect(try map1.read(UInt8.self, at: 0) == 2)
        #expect(try map1.read(UInt32.self, at: Int(page) - 0x14) == 0)
        let past = try #require(throws: UIOError.self) { try map1.read(UInt8.self, at: Int(page) - 0x10) }
        #expect(past.code == .outOfBounds)
        handle.close()
        #expect(try map1.read(UInt8.self, at: 0) == 2, "a region outlives its handle")
    }

    @Test("alignment is the address's, not the offset's: a map that starts 4 bytes into a page takes a 64-bit access at 4, not at 0")
    func alignmentOfTheAddress() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let handle = try UIOHandle(device: Self.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: page, offset: 4)]),
                                   exclusive: true, system: .live)
        defer { handle.close() }
        let region = try handle.mapRegion(0)
        let error = try #require(throws: UIOError.self) { try region.read(UInt64.self, at: 0) }
        #expect(error.code == .misaligned)
        #expect(try region.read(UInt64.self, at: 4) == 0)
        #expect(try region.read(UInt32.self, at: 0) == 0)
        #expect(throws: UIOError.self) { try region.register(UInt16.self, at: 1) }
    }

    @Test("a map whose offset is not inside its size is malformed, not mapped")
    func offsetPastSize() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
        let handle = try UIOHandle(device: Self.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 0x10, offset: 0x10)]),
                                   exclusive: true, system: .live)
        defer { handle.close() }
        let error = try #require(throws: UIOError.self) { try handle.mapRegion(0) }
        #expect(error.code == .malformedAttribute)
    }

    @Test("a map index the device lacks, or a map after close, is refused")
    func mapErrors() throws {
        let path = try Self.standIn()
        defer { Self.remove(path) }
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
        defer { Self.remove(path) }
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
        defer { Self.remove(path) }
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

/// The files a test saw opened on a stand-in node, and which of them were closed.
final class NodeFiles: @unchecked Sendable {
    private let lock = NSLock()
    private var originals: Set<Int32> = []
    private var closedFiles: Set<Int32> = []
    private var device = DeviceNumber(major: 0, minor: 0)

    func opened(_ fd: Int32) { lock.withLock { _ = originals.insert(fd); _ = closedFiles.remove(fd) } }
    func closed(_ fd: Int32) { lock.withLock { if originals.contains(fd) { _ = closedFiles.insert(fd) } } }
    func isOriginal(_ fd: Int32) -> Bool { lock.withLock { originals.contains(fd) } }
    var openCount: Int { lock.withLock { originals.count } }
    var closedOriginals: Int { lock.withLock { closedFiles.count } }
    /// The device `stat` of the node reports (an ordinary file's is 0:0).
    var nodeDevice: DeviceNumber {
        get { lock.withLock { device } }
        set { lock.withLock { device = newValue } }
    }
}
