import Foundation
import Testing
import UIO

/// Every guest suite, one test at a time: they claim the same devices.
@Suite("Guest", .serialized, .enabled(if: Guest.isActive || Guest.isRequired, Guest.reason))
struct GuestSuites {}

/// Where the guest tests run: inside the guest `scripts/guest/run.sh` boots, on a real kernel
/// with QEMU's edu devices bound to uio_pci_generic.
enum Guest {
    /// Set by the guest's command script.
    static let isActive = ProcessInfo.processInfo.environment["SWIFT_UIO_GUEST"] == "1"
    /// Set by the test command: then a guest suite that cannot run fails instead of skipping.
    static let isRequired = ProcessInfo.processInfo.environment["SWIFT_UIO_REQUIRE_GUEST"] == "1"
    static let reason: Comment = "runs in the guest: scripts/guest/run.sh --edu 2 -- <test binary> --filter GuestTests"

    /// The edu devices, by number.
    static func eduDevices() throws -> [UIODevice] {
        try UIODevice.find(.pci(vendor: 0x1234, device: 0x11e8))
    }
}

/// QEMU's edu device's registers (BAR0; 32-bit accesses only below 0x80).
enum Edu {
    static let identification = 0x00
    static let liveness = 0x04
    static let factorial = 0x08
    static let status = 0x20
    static let interruptStatus = 0x24
    static let raiseInterrupt = 0x60
    static let acknowledgeInterrupt = 0x64

    /// Status bit: raise an interrupt when the factorial is done.
    static let interruptOnFactorial: UInt32 = 0x80
    /// Status bit: a factorial is being computed.
    static let computing: UInt32 = 0x01
    /// Interrupt status bit the factorial completion raises.
    static let factorialInterrupt: UInt32 = 0x01
}
