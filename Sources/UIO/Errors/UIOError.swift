import SystemPackage

/// Everything that can go wrong in the device layer, as one typed error.
///
/// Each error names what it touched (a `/dev` node, a sysfs attribute, a map), carries the errno
/// when the kernel gave one, and says what a person can do about it. Switch on ``code``; show
/// ``description`` to people.
public struct UIOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: Sendable, Hashable {
        /// No UIO device matches what was asked for.
        case deviceNotFound
        /// The path names something that exists but is not a UIO device.
        case notAUIODevice
        /// The kernel refused access (EACCES, EPERM).
        case permissionDenied
        /// Another open file holds the exclusive claim on the device.
        case deviceBusy
        /// A kernel driver serves the device (a network interface up, a file system mounted):
        /// taking it away would cut that off.
        case deviceInUse
        /// The device went away (EIO, EPOLLERR, ENODEV, or its node vanished after discovery).
        case deviceRemoved
        /// The device has no memory map, port region, PCI resource or interrupt vector with that index.
        case noSuchRegion
        /// An access reaches outside a map or the config space.
        case outOfBounds
        /// An access is not aligned to its own width.
        case misaligned
        /// A sysfs attribute holds text that is not what the kernel writes there.
        case malformedAttribute
        /// The bound kernel driver has no irqcontrol and no other way to re-arm is known (ENOSYS).
        case irqControlUnsupported
        /// The operation needs a PCI parent and the device has none.
        case notPCIDevice
        /// The handle, region or interrupt line was closed.
        case closed
        /// Memory a device can reach by DMA could not be had: no huge pages reserved, pages the
        /// kernel could not fault in, pages that are not physically adjacent.
        case dmaMemoryUnavailable
        /// Memory lies at an address beyond what the device can put on the bus (its DMA address
        /// width); the device is never given it.
        case addressBeyondDeviceReach
        /// Another device in the VFIO device's IOMMU group is on a driver VFIO does not accept, so
        /// the kernel refuses the whole group (the IOMMU cannot isolate one member from the others).
        case groupNotViable
        /// The kernel or the device lacks what was asked for (a device reset, an IOMMU type).
        case notSupported
        /// Any other failed system call.
        case systemCall
    }

    /// What kind of failure this is.
    public let code: Code
    /// The errno, when the failure came from the kernel.
    public let errno: Errno?
    /// The path, attribute or object involved (`/dev/uio0`, `…/uio0/maps/map1/size`).
    public let subject: String
    /// What happened, in a sentence fragment.
    public let reason: String
    /// What a person can do about it, when there is something to do.
    public let advice: String?

    /// An error of kind `code` about `subject`, saying what happened and what to do.
    public init(_ code: Code, subject: String, reason: String, errno: Errno? = nil, advice: String? = nil) {
        self.code = code
        self.subject = subject
        self.reason = reason
        self.errno = errno
        self.advice = advice
    }

    /// The status and the reason, for people.
    public var description: String {
        var text = "\(subject): \(reason)"
        if let errno { text += " (\(errno))" }
        if let advice { text += " — \(advice)" }
        return text
    }
}

extension UIOError {
    static func closed(_ subject: String) -> UIOError {
        UIOError(.closed, subject: subject, reason: "used after close")
    }

    static func malformed(_ attribute: String, value: String, expected: String) -> UIOError {
        UIOError(
            .malformedAttribute, subject: attribute,
            reason: "holds \"\(value.prefix(64))\", not \(expected)",
            advice: "the kernel writes \(expected) here; a mocked or damaged sysfs tree is likely")
    }
}
