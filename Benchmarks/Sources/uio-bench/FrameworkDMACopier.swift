import CBaselines
import Dispatch
import QEMUDevices
import UIO
import UIODriver

/// edu's DMA copy driven through swift-uio, as a driver does it: the device claimed, a DMA
/// enabler of edu's 28-bit reach, two common buffers, and an interrupt whose ISR acknowledges
/// edu's status and queues the DPC on DMA done; the DPC signals the caller waiting for the transfer.
final class FrameworkDMACopier {
    let device: Device
    let enabler: DMAEnabler
    let source: CommonBuffer
    let destination: CommonBuffer
    private let registers: MappedRegion
    private let interrupt: Interrupt<Int>
    private let completed = DispatchSemaphore(value: 0)

    /// A lost completion ends the run instead of hanging it.
    static let completionTimeoutSeconds = 10.0

    /// Claims `uio` and starts the device: Bus Master on, the interrupt connected.
    init(_ uio: UIODevice) throws {
        let handle = try uio.open()
        let registers = try handle.mapRegion(0)
        let device = Device(resources: handle)
        enabler = try DMAEnabler(device: device, config: DMAEnablerConfig(
            profile: .packet, maximumLength: 4096, addressWidthOverride: Edu.defaultDMAAddressWidth))
        source = try enabler.createCommonBuffer(length: 4096)
        destination = try enabler.createCommonBuffer(length: 4096)
        let completed = completed
        interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
            isr: { interrupt, _ in
                let status = (try? registers.read(UInt32.self, at: Edu.interruptStatus)) ?? 0
                guard status != 0 else { return false }
                try? registers.write(status, at: Edu.acknowledgeInterrupt)
                if status & Edu.Interrupt.dmaDone != 0 { interrupt.queueDPC() }
                return true
            },
            dpc: { _, _ in completed.signal() }), context: 0)
        self.device = device
        self.registers = registers
        try registers.write(try registers.read(UInt32.self, at: Edu.interruptStatus), at: Edu.acknowledgeInterrupt)  // nothing left over
        try device.start()
    }

    /// One copy of `count` bytes: the source buffer to the start of edu's buffer, then back into
    /// the destination buffer. The nanoseconds from the first register write to the caller's
    /// wake-up by the second completion's DPC.
    func copy(count: Int) throws -> UInt64 {
        guard Edu.isValidDMARange(offset: 0, count: count), count <= source.length else {
            throw BenchError("dma: a copy of \(count) bytes does not fit edu's buffer or the common buffers")
        }
        let start = baseline_now_ns()
        try transfer(source, count: count, toRAM: false)
        try transfer(destination, count: count, toRAM: true)
        return baseline_now_ns() - start
    }

    /// Programs one transfer between `buffer` and the start of edu's buffer and waits for its DPC.
    private func transfer(_ buffer: CommonBuffer, count: Int, toRAM: Bool) throws {
        guard let writes = Edu.dmaTransfer(ram: buffer.alignedLogicalAddress, deviceOffset: 0, count: count, toRAM: toRAM) else {
            throw BenchError("dma: \(count) bytes do not fit edu's buffer")
        }
        for (offset, value) in writes { try registers.write(value, at: offset) }
        guard completed.wait(timeout: .now() + Self.completionTimeoutSeconds) == .success else {
            throw BenchError("dma: no completion within \(Int(Self.completionTimeoutSeconds)) s (framework)")
        }
    }

    /// Stops the device: the interrupt disconnected, Bus Master off. The claim and the buffers
    /// end when the caller lets go of the copier (its registers and buffers hold them).
    func stop() { device.stop() }
}
