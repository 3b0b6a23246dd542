import Foundation
import Testing
import QEMUDevices
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
        try UIODevice.find(.pci(vendor: Edu.vendor, device: Edu.device))
    }
}
