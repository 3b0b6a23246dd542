/// What the kernel says about one interrupt vector of a device: the raw facts behind WDF's
/// `WDF_INTERRUPT_INFO`, which the driver layer builds from them.
public struct InterruptDescription: Sendable, Hashable {
    /// How the vector reaches the CPU.
    public enum Kind: Sendable, Hashable {
        /// A wire: INTx or a platform line. `sharedPCIINTx` when it is a PCI INTx the kernel
        /// requested shared.
        case line(sharedPCIINTx: Bool)
        /// A message (MSI or MSI-X), number `number` of the device's.
        case message(number: UInt32)
    }

    /// The Linux interrupt number, when known.
    public let irq: Int?
    /// A line or a message.
    public let kind: Kind
    /// What `/proc/interrupts` and `/proc/irq` say about it, when the kernel lists it.
    public let kernel: KernelIRQ?

    /// A wire interrupt: `line` is the parent's `irq` attribute (else `kernel`'s number).
    public init(line: Int?, sharedPCIINTx: Bool, kernel: KernelIRQ?) {
        self.irq = line ?? kernel?.number
        self.kind = .line(sharedPCIINTx: sharedPCIINTx)
        self.kernel = kernel
    }

    /// Message `number`, delivered as Linux interrupt `kernel.number` when the kernel lists it.
    public init(message number: UInt32, kernel: KernelIRQ?) {
        self.irq = kernel?.number
        self.kind = .message(number: number)
        self.kernel = kernel
    }

    /// A UIO device's line: its parent's `irq` attribute, shared when the bound driver requests
    /// a PCI INTx shared, with what `kernel` says of it.
    public static func line(of device: UIODevice, kernel: KernelIRQ?) -> InterruptDescription {
        InterruptDescription(line: device.parent?.irq, sharedPCIINTx: device.parent?.interruptLineRequest == .sharedPCIINTx, kernel: kernel)
    }
}
