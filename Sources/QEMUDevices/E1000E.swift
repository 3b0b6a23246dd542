/// QEMU's `e1000e` NIC (Intel 82574L, vendor 0x8086, device 0x10d3): the BAR0 registers that
/// route its interrupt causes to its five MSI-X vectors and raise them from software.
public enum E1000E {
    /// PCI vendor ID.
    public static let vendor: UInt16 = 0x8086
    /// PCI device ID.
    public static let device: UInt16 = 0x10d3
    /// MSI-X table entries.
    public static let msixVectors = 5

    /// Interrupt cause read (reading clears it).
    public static let interruptCauseRead = 0xC0
    /// Interrupt cause set: raises the written causes.
    public static let interruptCauseSet = 0xC8
    /// Interrupt mask set: enables the written causes.
    public static let interruptMaskSet = 0xD0
    /// Interrupt mask clear: disables the written causes.
    public static let interruptMaskClear = 0xD8
    /// Extended interrupt auto-clear: causes cleared by the MSI-X message itself.
    public static let extendedAutoClear = 0xDC
    /// Interrupt vector allocation: which MSI-X vector each queue cause goes to.
    public static let vectorAllocation = 0xE4

    /// IVAR routing RX queue 0 → vector 0, RX 1 → 1, TX 0 → 2, TX 1 → 3, other → 4 (each a
    /// 4-bit field with its valid bit, 0x8).
    public static let oneCausePerVector: UInt32 = 0x000C_BA98

    /// The cause that IVAR ``oneCausePerVector`` routes to vector `vector` (0–4): bits 20–24.
    public static func cause(forVector vector: Int) -> UInt32 {
        precondition((0..<msixVectors).contains(vector))
        return 1 << (20 + UInt32(vector))
    }

    /// Every cause routed to a vector.
    public static let allVectorCauses: UInt32 = 0x01F0_0000
}
