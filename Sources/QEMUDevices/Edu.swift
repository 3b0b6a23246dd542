/// QEMU's `edu` PCI device (hw/misc/edu.c, vendor 0x1234, device 0x11e8): BAR0's registers.
/// 32-bit accesses only below 0x80.
public enum Edu {
    /// PCI vendor ID.
    public static let vendor: UInt16 = 0x1234
    /// PCI device ID.
    public static let device: UInt16 = 0x11e8

    /// Identification: `0xRRrr00ed`, major and minor version above edu's `0xed`.
    public static let identification = 0x00
    /// Liveness check: reads back the inverse of what was written.
    public static let liveness = 0x04
    /// Factorial: write n, read n! when the status's computing bit clears.
    public static let factorial = 0x08
    /// Status: ``Status``.
    public static let status = 0x20
    /// Interrupt status: the bits raised and not yet acknowledged.
    public static let interruptStatus = 0x24
    /// Raise an interrupt: the written bits are ORed into the interrupt status.
    public static let raiseInterrupt = 0x60
    /// Acknowledge an interrupt: the written bits are cleared from the interrupt status.
    public static let acknowledgeInterrupt = 0x64

    /// Bits of the status register.
    public enum Status {
        /// A factorial is being computed.
        public static let computing: UInt32 = 0x01
        /// Raise an interrupt when the factorial is done.
        public static let interruptOnFactorial: UInt32 = 0x80
    }

    /// Bits of the interrupt status.
    public enum Interrupt {
        /// A factorial finished.
        public static let factorialDone: UInt32 = 0x01
        /// The bit edu's drivers and tests here raise to exercise the interrupt path.
        public static let test: UInt32 = 0x1000
    }
}
