/// How the interrupt is enabled again after the kernel masked it.
///
/// The UIO core leaves this to the bound kernel driver, and they differ:
public enum ReArmMethod: Sendable, Hashable {
    /// `write(fd, 1)` to the driver's irqcontrol (uio_pdrv_genirq, uio_dmem_genirq: they
    /// disable the line in their handler).
    case irqControl
    /// Clear the PCI command register's Interrupt Disable bit through `device/config`
    /// (uio_pci_generic: it has no irqcontrol, and masks INTx in its handler).
    case pciInterruptDisableBit
    /// VFIO's INTx unmask (`VFIO_DEVICE_SET_IRQS` with `ACTION_UNMASK`): vfio-pci masks the line
    /// at each interrupt.
    case vfioUnmask
    /// Nothing to do: the kernel driver leaves the line enabled (a message needs no re-arm).
    case none

    /// The method the driver bound to `device` needs (``KernelDriver/reArmMethod``).
    public static func detect(for device: UIODevice) -> ReArmMethod {
        device.parent?.kernelDriver?.reArmMethod ?? .irqControl
    }
}
