/// ARM's PL031 real-time clock (ARM DDI 0224), as QEMU's `virt` machine has it at 0x9010000:
/// map 0's registers.
public enum PL031 {
    /// DR: the clock, in seconds.
    public static let data = 0x000
    /// MR: the alarm fires when the clock reaches it.
    public static let match = 0x004
    /// IMSC: 1 unmasks the alarm interrupt.
    public static let interruptMask = 0x010
    /// RIS: the alarm fired (whatever the mask).
    public static let rawInterruptStatus = 0x014
    /// MIS: the alarm fired and is unmasked.
    public static let maskedInterruptStatus = 0x018
    /// ICR: writing 1 clears the interrupt.
    public static let interruptClear = 0x01C
    /// PeriphID0…3: `0x31 0x10 0x14 0x00` for a PL031.
    public static let peripheralID0 = 0xFE0
    /// PeriphID1.
    public static let peripheralID1 = 0xFE4
    /// PrimeCell ID0…3: `0x0d 0xf0 0x05 0xb1`.
    public static let primeCellID = 0xFF0
}
