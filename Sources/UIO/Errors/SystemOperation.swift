import SystemPackage

/// A system call the device layer makes, named for what it does to the device: the row key of
/// the one table that turns an errno into a ``UIOError/Code-swift.enum``.
public enum SystemOperation: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `open` of `/dev/uioN` (`chrdev_open` → `uio_open`).
    case openNode
    /// `open`, `read` or `write` of a sysfs attribute, the PCI config space or a `/proc` file
    /// (kernfs, `pci_read_config`/`pci_write_config`).
    case accessFile
    /// `stat` or `fstat` of the node or a file.
    case status
    /// `flock` of the claim.
    case claim
    /// `read` of the 4-byte count (`uio_read`).
    case readCount
    /// `ppoll` of the interrupt file (`uio_poll`).
    case poll
    /// `write` to irqcontrol (`uio_write`).
    case interruptControl
    /// `mmap` of a map or a BAR (`uio_mmap`, `pci_mmap_resource_range`).
    case map
    /// An `ioctl` of a VFIO container, group or device.
    case vfioControl
    /// Anything else: `eventfd`, `dup`, `memfd_create`.
    case other

    public var description: String {
        switch self {
        case .openNode: "open"
        case .accessFile: "file access"
        case .status: "stat"
        case .claim: "flock"
        case .readCount: "read"
        case .poll: "poll"
        case .interruptControl: "irqcontrol write"
        case .map: "mmap"
        case .vfioControl: "ioctl"
        case .other: "system call"
        }
    }
}

extension UIOError {
    /// The one table: what an errno from `operation` means, with the kernel path that gives it.
    /// `EBADF` is not in it: every fd here is held open while it is used, so `EBADF` means an fd
    /// was closed or reused under a call, a bug, and traps.
    public static func code(for operation: SystemOperation, errno: Errno) -> (code: Code, kernelPath: String) {
        switch (operation, errno) {
        case (_, .permissionDenied), (_, .notPermitted):
            (.permissionDenied, "file mode or group, CAP_SYS_ADMIN, or lockdown (security_locked_down)")
        case (.openNode, .noSuchFileOrDirectory):
            (.deviceRemoved, "devtmpfs removed the node with the device (uio_unregister_device)")
        case (.openNode, .operationNotSupportedByDevice), (.openNode, .noSuchAddressOrDevice):
            (.deviceRemoved, "uio_open: no UIO device has this minor any more")
        case (.accessFile, .noSuchFileOrDirectory), (.accessFile, .operationNotSupportedByDevice),
             (.status, .noSuchFileOrDirectory), (.claim, .noSuchFileOrDirectory):
            (.deviceRemoved, "kernfs: the device's sysfs files went with it")
        case (.readCount, .ioError), (.poll, .ioError), (.accessFile, .ioError):
            (.deviceRemoved, "uio_read: the device was unregistered (idev->info is NULL)")
        case (.interruptControl, .invalidArgument):
            (.deviceRemoved, "uio_write: the device was unregistered (idev->info is NULL)")
        case (.interruptControl, .ioError):
            (.irqControlUnsupported, "uio_write: the device has no interrupt (info->irq is 0)")
        case (.interruptControl, .noFunction):
            (.irqControlUnsupported, "uio_write: the driver has no irqcontrol")
        case (.claim, .wouldBlock), (.claim, .resourceBusy):
            (.deviceBusy, "flock: another open file holds the claim")
        case (.map, .invalidArgument):
            (.noSuchRegion, "uio_mmap: no such map, or a mapping longer than its size")
        case (.map, .operationNotSupportedByDevice):
            (.noSuchRegion, "uio_mmap_physical: the map's address is not page-aligned")
        default:
            (.systemCall, "")
        }
    }

    /// Classifies a failed system call on `subject` through ``code(for:errno:)``, with advice
    /// for each code.
    public static func system(_ errno: Errno, operation: SystemOperation, subject: String) -> UIOError {
        precondition(errno != .badFileDescriptor,
                     "\(subject): \(operation) failed with EBADF: a file descriptor was closed or reused while in use (a bug)")
        let (code, kernelPath) = code(for: operation, errno: errno)
        let because = kernelPath.isEmpty ? "" : " (\(kernelPath))"
        switch code {
        case .permissionDenied:
            return UIOError(.permissionDenied, subject: subject, reason: "\(operation): permission denied", errno: errno,
                            advice: "install the rules in udev/ and add your user to the group they name, or run as root")
        case .deviceRemoved:
            return UIOError(.deviceRemoved, subject: subject, reason: "\(operation): the device is gone\(because)", errno: errno,
                            advice: "the kernel unregistered it (unbind or hot-unplug); discover it again")
        case .deviceBusy:
            return UIOError(.deviceBusy, subject: subject, reason: "\(operation): the device is busy\(because)", errno: errno,
                            advice: "another driver holds it; stop that driver first")
        default:
            return UIOError(code, subject: subject, reason: "\(operation) failed\(because)", errno: errno)
        }
    }
}
