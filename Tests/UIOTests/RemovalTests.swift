import UIOPlatform
import Foundation
import SystemPackage
import Testing
import TestSupport
@_spi(Simulation) import UIO

/// What becomes of a claimed device's mappings when it goes, on stand-in files.
@Suite("Removal: liveness, retired mappings, the watcher")
struct RemovalTests {
    typealias StandIn = UIOHandleTests

    @Test("actions registered for removal run once; one registered after it runs at once")
    func livenessActions() {
        let liveness = DeviceLiveness()
        let runs = Counter()
        liveness.whenRemoved { _ = runs.increment() }
        #expect(runs.value == 0)
        liveness.markRemoved()
        liveness.markRemoved()
        #expect(runs.value == 1)
        liveness.whenRemoved { _ = runs.increment() }
        #expect(runs.value == 2)
        #expect(liveness.isRemoved)
    }

    @Test("once the device is gone, its mappings read all-ones at the same address: a bare Register reads 0xff…, a checked access throws")
    func mappingsAreRetired() throws {
        let path = try StandIn.standIn()
        defer { StandIn.remove(path) }
        let handle = try UIOHandle(device: StandIn.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 0x1000, offset: 0)]),
                                   exclusive: true, system: .live)
        defer { handle.close() }
        let region = try handle.mapRegion(0)
        let register = try region.register(UInt32.self, at: 0x10)
        #expect(register.read() == 1)
        handle.liveness.markRemoved()
        #expect(register.read() == 0xffff_ffff)
        register.write(0)  // lands in anonymous memory, not in the file
        let error = try #require(throws: UIOError.self) { try region.read(UInt32.self, at: 0x10) }
        #expect(error.code == .deviceRemoved)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path))[0x10] == 1, "the device's memory was not written")
    }

    @Test("a SIGBUS from a mapping the kernel tore down retires it instead of killing the process")
    func sigbusIsCaught() async {
        await #expect(processExitsWith: .success) {
            // A mapped file truncated under its mapping faults with SIGBUS, as a sysfs resourceN
            // mapping does once its device is removed.
            let path = try UIOHandleTests.standIn()
            let handle = try UIOHandle(device: UIOHandleTests.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 0x1000, offset: 0)]),
                                       exclusive: true, system: .live)
            let register = try handle.mapRegion(0).register(UInt32.self, at: 0x10)
            precondition(register.read() == 1)
            precondition(truncate(path, 0) == 0)
            precondition(register.read() == 0xffff_ffff)
            UIOHandleTests.remove(path)
        }
    }

    @Test("the watcher marks the device gone when the node reports POLLERR and irqcontrol says EINVAL (uio_write without info)")
    func watcherNoticesRemoval() throws {
        let path = try StandIn.standIn()
        defer { StandIn.remove(path) }
        let gone = Locked(false)
        var system = SystemCalls.live
        system.pollRemoval = { fd, wake in
            waitUntil { gone.withLock { $0 } } ? .success(true) : SystemCalls.live.pollRemoval(fd, wake)
        }
        system.writeControl = { _, _ in .failure(.invalidArgument) }
        let handle = try UIOHandle(device: StandIn.device(at: path, maps: [MemoryMap(index: 0, name: nil, address: 0, size: 0x1000, offset: 0)]),
                                   exclusive: true, system: system)
        defer { handle.close() }
        let region = try handle.mapRegion(0)
        try handle.watchForRemoval()
        try handle.watchForRemoval()  // once is enough; twice is harmless
        #expect(!handle.liveness.isRemoved)
        gone.withLock { $0 = true }
        #expect(waitUntil { handle.liveness.isRemoved })
        #expect(throws: UIOError.self) { try region.read(UInt8.self, at: 0x10) }
    }

    @Test("POLLERR with irqcontrol saying EIO is a device without an interrupt (uio_write), not a removal")
    func pollErrorWithoutRemoval() throws {
        let path = try StandIn.standIn()
        defer { StandIn.remove(path) }
        let polled = Counter()
        var system = SystemCalls.live
        system.pollRemoval = { _, _ in
            _ = polled.increment()
            return .success(true)
        }
        system.writeControl = { _, _ in .failure(.ioError) }
        let handle = try UIOHandle(device: StandIn.device(at: path), exclusive: true, system: system)
        #expect(polled.value == 0, "no watcher until asked")
        try handle.watchForRemoval()
        #expect(waitUntil { polled.value == 1 })
        handle.close()
        #expect(!handle.liveness.isRemoved)
    }
}
