/// QEMU's `edu` PCI device (hw/misc/edu.c, vendor 0x1234, device 0x11e8): BAR0's registers.
/// 32-bit accesses only below 0x80; 32 or 64 bits from 0x80.
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

    /// DMA source address (64 bits): a RAM address for a transfer to the device, else
    /// ``dmaBufferAddress`` plus an offset.
    public static let dmaSource = 0x80
    /// DMA destination address (64 bits).
    public static let dmaDestination = 0x88
    /// DMA byte count (64 bits).
    public static let dmaCount = 0x90
    /// DMA command (64 bits): ``DMACommand``. Writing it starts the transfer; the device
    /// finishes it about 100 ms later (a timer), and ignores the DMA registers until then.
    public static let dmaCommand = 0x98

    /// Where the device's own 4 KiB DMA buffer lies in its DMA address space.
    public static let dmaBufferAddress: UInt64 = 0x40000
    /// The bytes of the device's buffer a transfer may use: QEMU's range check treats the end as
    /// inside the buffer, so a transfer that ends exactly at its end (0x41000) aborts QEMU
    /// (`hw_error`); the last byte is never used.
    public static let dmaBufferUsableSize = 4095
    /// The device's DMA address width unless QEMU's `dma_mask` property says otherwise: it
    /// silently clamps a RAM address to its low 28 bits.
    public static let defaultDMAAddressWidth = 28

    /// Whether `count` bytes at `offset` into the device's buffer are a transfer the device
    /// takes (a wrong one aborts QEMU, so a driver checks before it starts).
    public static func isValidDMARange(offset: Int, count: Int) -> Bool {
        offset >= 0 && count > 0 && offset + count <= dmaBufferUsableSize
    }

    /// The register writes that start a transfer of `count` bytes between RAM at `ram` (a device
    /// address) and the device's buffer at `deviceOffset`, raising ``Interrupt/dmaDone`` when
    /// done: (offset, value) pairs, in order, the command last. `nil` for a range the device
    /// would abort on (``isValidDMARange(offset:count:)``).
    public static func dmaTransfer(ram: UInt64, deviceOffset: Int, count: Int, toRAM: Bool) -> [(offset: Int, value: UInt64)]? {
        guard isValidDMARange(offset: deviceOffset, count: count) else { return nil }
        let onDevice = dmaBufferAddress + UInt64(deviceOffset)
        return [
            (dmaSource, toRAM ? onDevice : ram),
            (dmaDestination, toRAM ? ram : onDevice),
            (dmaCount, UInt64(count)),
            (dmaCommand, DMACommand.start | DMACommand.raiseInterrupt | (toRAM ? DMACommand.toRAM : 0)),
        ]
    }

    /// Bits of the DMA command register.
    public enum DMACommand {
        /// Start the transfer.
        public static let start: UInt64 = 0x1
        /// From the device's buffer to RAM (without it, from RAM to the device).
        public static let toRAM: UInt64 = 0x2
        /// Raise ``Interrupt/dmaDone`` when the transfer is done.
        public static let raiseInterrupt: UInt64 = 0x4
    }

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
        /// A DMA transfer finished (with ``DMACommand/raiseInterrupt``).
        public static let dmaDone: UInt32 = 0x100
        /// The bit edu's drivers and tests here raise to exercise the interrupt path.
        public static let test: UInt32 = 0x1000
    }
}
