import UIOPlatform
import Foundation
import SystemPackage
import Testing
@_spi(Simulation) import UIO

@Suite("Errors")
struct UIOErrorTests {
    /// Every row of the table, and a few errnos that fall through to `systemCall`.
    @Test("an errno from an operation is classified into the code a driver switches on, naming the kernel path", arguments: [
        (SystemOperation.openNode, Errno.permissionDenied, UIOError.Code.permissionDenied),
        (.accessFile, .notPermitted, .permissionDenied),
        (.openNode, .noSuchFileOrDirectory, .deviceRemoved),
        (.openNode, .operationNotSupportedByDevice, .deviceRemoved),
        (.openNode, .noSuchAddressOrDevice, .deviceRemoved),
        (.accessFile, .noSuchFileOrDirectory, .deviceRemoved),
        (.accessFile, .operationNotSupportedByDevice, .deviceRemoved),
        (.status, .noSuchFileOrDirectory, .deviceRemoved),
        (.claim, .noSuchFileOrDirectory, .deviceRemoved),
        (.readCount, .ioError, .deviceRemoved),
        (.poll, .ioError, .deviceRemoved),
        (.interruptControl, .invalidArgument, .deviceRemoved),
        (.interruptControl, .ioError, .irqControlUnsupported),
        (.accessFile, .ioError, .deviceRemoved),
        (.interruptControl, .noFunction, .irqControlUnsupported),
        (.claim, .wouldBlock, .deviceBusy),
        (.claim, .resourceBusy, .deviceBusy),
        (.map, .invalidArgument, .noSuchRegion),
        (.map, .operationNotSupportedByDevice, .noSuchRegion),
        (.readCount, .invalidArgument, .systemCall),
        (.other, .noSuchFileOrDirectory, .systemCall),
        (.openNode, .resourceBusy, .systemCall),
    ])
    func classification(operation: SystemOperation, errno: Errno, code: UIOError.Code) {
        let error = UIOError.system(errno, operation: operation, subject: "/dev/uio3")
        #expect(error.code == code)
        #expect(error.errno == errno)
        #expect(error.subject == "/dev/uio3")
        #expect(UIOError.code(for: operation, errno: errno).kernelPath.isEmpty == (code == .systemCall))
    }

    @Test("the message names the path, what happened, the errno and what to do")
    func message() {
        let error = UIOError.system(.permissionDenied, operation: .openNode, subject: "/dev/uio3")
        #expect(error.description.hasPrefix("/dev/uio3: open: permission denied"))
        #expect(error.description.contains("udev/"))
        #expect(error.description.contains("group"))
        #expect(error.description.contains("\(Errno.permissionDenied)"))
        let removed = UIOError.system(.ioError, operation: .readCount, subject: "/dev/uio3")
        #expect(removed.description.contains("uio_read"))
    }

    @Test("EBADF is a bug, not a closed handle: it traps naming the fd's misuse")
    func badFileDescriptorTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = UIOError.system(.badFileDescriptor, operation: .readCount, subject: "/dev/uio3")
        }
    }

    @Test("a short config read past the first 64 bytes is permission (pci_read_config for the unprivileged); below, it is not")
    func shortConfigReads() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)").path
        try Data(count: 256).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var system = SystemCalls.live
        system.pread = { _, _, _ in .success(0) }  // the kernel answered with nothing
        let config = try ConfigSpace(path: path, system: system)
        defer { config.close() }
        let extended = try #require(throws: UIOError.self) { try config.read32(at: 0x40) }
        #expect(extended.code == .permissionDenied)
        #expect(extended.description.contains("CAP_SYS_ADMIN"))
        let header = try #require(throws: UIOError.self) { try config.read16(at: 0x04) }
        #expect(header.code == .systemCall)
    }
}
