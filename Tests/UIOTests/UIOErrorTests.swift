import SystemPackage
import Testing
import UIO

@Suite("Errors")
struct UIOErrorTests {
    @Test("an errno is classified into the code a driver switches on", arguments: [
        (Errno.permissionDenied, UIOError.Code.permissionDenied),
        (.notPermitted, .permissionDenied),
        (.noSuchFileOrDirectory, .deviceNotFound),
        (.operationNotSupportedByDevice, .deviceNotFound),
        (.ioError, .deviceRemoved),
        (.resourceBusy, .deviceBusy),
        (.wouldBlock, .deviceBusy),
        (.badFileDescriptor, .closed),
        (.invalidArgument, .systemCall),
    ])
    func classification(errno: Errno, code: UIOError.Code) {
        let error = UIOError.system(errno, operation: "open", subject: "/dev/uio3")
        #expect(error.code == code)
        #expect(error.errno == errno)
        #expect(error.subject == "/dev/uio3")
    }

    @Test("the message names the path, what happened, the errno and what to do")
    func message() {
        let error = UIOError.system(.permissionDenied, operation: "open", subject: "/dev/uio3")
        #expect(error.description.hasPrefix("/dev/uio3: open: permission denied"))
        #expect(error.description.contains("udev/"))
        #expect(error.description.contains("group"))
        #expect(error.description.contains("\(Errno.permissionDenied)"))
    }
}
