import UIO

extension UIOError {
    /// A re-arm failure as the driver hears of it: the device layer's error, with advice on the
    /// causes a re-arm that once worked can meet. EPERM on a config-space write is the kernel's
    /// lockdown (it refuses userspace PCI config writes there); EACCES, or EPERM on irqcontrol, is
    /// a permission changed under a running driver.
    static func reArmFailed(_ error: UIOError, method: ReArmMethod, devicePath: String) -> UIOError {
        let cause: String? = switch (error.errno, method) {
        case (.notPermitted?, .pciInterruptDisableBit):
            "the kernel may be in lockdown (Secure Boot): see /sys/kernel/security/lockdown; "
                + "userspace cannot write PCI config space there, so uio_pci_generic's interrupt cannot be re-armed; "
                + "use VFIO (vfio-pci) for this device, or boot without lockdown"
        case (.permissionDenied?, .pciInterruptDisableBit):
            "the permissions of \(error.subject) changed while the driver ran; "
                + "give the driver's user write access again (udev/70-uio.rules)"
        case (.notPermitted?, .irqControl), (.permissionDenied?, .irqControl):
            "the permissions of \(devicePath) changed while the driver ran; "
                + "give the driver's user write access again (udev/70-uio.rules)"
        default:
            error.advice
        }
        let retrying = "the ISR thread retries, at most once a second, and the line stays masked until a retry succeeds"
        return UIOError(error.code, subject: error.subject, reason: "re-arming the interrupt: \(error.reason)",
                        errno: error.errno, advice: [cause, retrying].compactMap { $0 }.joined(separator: "; "))
    }
}
