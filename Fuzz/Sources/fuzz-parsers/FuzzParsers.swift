// One libFuzzer entry point for every parser of untrusted text, and for the config-space helpers
// over a simulated config space. The first byte picks the target; the rest is its input.
// A crash, a hang or a sanitizer report is a finding; a thrown error or nil is the right answer.

@_spi(Simulation) import UIO
import UIOTesting

/// Config space for the helpers, made once: the fuzzer calls the entry point millions of times.
let config: ConfigSpace? = try? SimulatedDevice(kernelDriver: .uioPCIGeneric).configSpace()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 9 {
    case 0: _ = SysfsValue.hexadecimal(text)
    case 1: _ = SysfsValue.decimal(text)
    case 2: _ = SysfsValue.line(text)
    case 3:
        let index = Int(bytes.first ?? 0) % 8
        if let (start, size) = SysfsValue.pciResource(text, index: index) {
            precondition(size > 0 && start &+ size &- 1 >= start, "a parsed BAR must not wrap")
        }
    case 4:
        let number = Int(bytes.first ?? 0)
        if let irq = KernelIRQ.parse(interrupts: text, number: number, affinityList: text) {
            precondition(irq.number == number)
        }
        if let found = KernelIRQ.number(handledBy: "uio", interrupts: text) {
            precondition(KernelIRQ.parse(interrupts: text, number: found, affinityList: "")?.handlers.contains("uio") == true)
        }
    case 5:
        if let cpus = KernelIRQ.parseCPUList(text) { precondition(cpus.count <= 65_536 * 64) }
    case 6:
        let selector = DeviceSelector(text)
        _ = selector.description
    case 8:
        // Discovery's conversions: a device built from attribute texts the input supplies.
        guard let device = try? UIODevice(reading: FuzzedDevice.device(text)) else { return 0 }
        precondition(device.maps.enumerated().allSatisfy { $0.offset == $0.element.index })
        precondition((device.parent?.irq ?? 0) >= 0)
        precondition((device.parent?.pci?.classCode ?? 0) <= 0xFF_FFFF)
    default:
        // Config-space helpers: any offset and width, from the input; errors are expected.
        guard let config, bytes.count >= 3 else { return 0 }
        let offset = Int(Int16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8))
        switch bytes[2] % 7 {
        case 0: _ = try? config.read8(at: offset)
        case 1: _ = try? config.read16(at: offset)
        case 2: _ = try? config.read32(at: offset)
        case 3: try? config.write8(bytes[2], at: offset)
        case 4: try? config.write16(UInt16(bytes[2]), at: offset)
        case 5: _ = try? config.isInterruptDisabled()
        default: try? config.setInterruptDisabled(bytes[2] & 1 == 0)
        }
    }
    return 0
}
